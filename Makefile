# The two commands of README.md: `make demo` and `make test`.
.PHONY: demo test lint format schemas bench infra-up infra-stop images up down status

demo:  ## install, put the demo in place and run the embedded platform on http://127.0.0.1:8000/
	deploy/bootstrap.sh --no-dev
	uv run --no-sync citela demo

test:  ## install what the tests need, start Kafka/PostgreSQL/Redis, run everything, stop them
	deploy/test.sh

lint:
	uv run ruff check .
	uv run ruff format --check .
	uv run mypy services tests bench

format:
	uv run ruff check --fix .
	uv run ruff format .

schemas:  ## refresh the published JSON Schemas of the events
	uv run citela events export-schemas docs/events

bench:  ## bus throughput: the platform's Kafka bus vs a bare kafka-python producer and consumer
	deploy/infra.sh up
	uv run python bench/bus_throughput.py

images:  ## build each service's image (deploy/docker/), where a Docker engine runs
	.ci/images.sh

up:  ## the distributed platform without Docker, under supervisord, with Prometheus (deploy/platform.sh)
	deploy/platform.sh up

status:  ## each process, the infra, and Prometheus' targets; fails when one is down
	deploy/platform.sh status

down:  ## stop the distributed platform and its Kafka, PostgreSQL, Redis
	deploy/platform.sh down

infra-up:
	deploy/infra.sh up

infra-stop:
	deploy/infra.sh stop

.PHONY: screenshots
screenshots:  ## rerun the browser tests and refresh the README's images (docs/screenshots/)
	deploy/browser-tools.sh
	CITELA_README_SCREENSHOTS=1 uv run --no-sync pytest tests/browser -q
