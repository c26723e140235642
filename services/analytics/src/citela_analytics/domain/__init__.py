"""The analytics domain: plain Python, no FastAPI, SQL, Kafka or Celery.

- ``stats``: running sums of answers and Student t intervals;
- ``matrix``: the importance × satisfaction (PMA) matrix, quadrants and priorities;
- ``french`` and ``themes``: recurring French phrases of comments;
- ``explain``: sentiment distribution and representative quotes of a cell;
- ``chart`` and ``report``: the matrix as SVG and the printable synthesis in French.
"""
