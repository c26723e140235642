"""Citéla analytics: the synthesis an authority acts on.

Facts from the feedback events and a projection of the catalogue (consumers), sentiment of
the comments (Celery task, ``sentiment`` backends), the importance × satisfaction matrix kept
incrementally and recomputable exactly, priorities, explanations of each gap, weekly trends,
CSV export and the printable synthesis report (staff API). The domain lives in ``domain/``:
plain Python that knows nothing of FastAPI, SQL, Kafka or Celery.
"""
