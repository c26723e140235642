"""Domain rules of feedback: plain Python, no FastAPI, SQL or Kafka (fast to test)."""
