# `make demo` and `make test` set everything up on a fresh machine (Python 3.10+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=
# Test processes: the suite runs in two (pytest-xdist), one per core of a small CI machine.
PYTEST_WORKERS ?= 2

.PHONY: demo test lint typecheck venv clean

venv: $(STAMP)

# Torch first and pinned: the CUDA build also runs on CPU and brings Triton. The postgres extra
# lets the multi-worker tests run on a real PostgreSQL server (started by the tests themselves).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev,postgres]"
	@touch $@

# Lint and type-check first: they take seconds and fail before the long suite starts.
test: lint typecheck
	$(BIN)/python -m pytest -q -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

# The default search: Single Path One-Shot on cluttered digits (a harder 32x32 task generated
# from the real digits, nothing downloaded; the space sees it at 16x16). The space: a small
# residual CNN whose seven channel widths are each searched (0.25x or 1x) and whose six 3x3
# convs may each be 1x1 instead (the centre of the 3x3, so the supernet shares every weight):
# 8,192 archs from 0.04M to 3.1M MACs. A weight-sharing supernet trains for 20 epochs (one
# path per step, under the limit, drawn from MACs bins as SPOS does so that wide paths train
# as often as narrow ones), then evolution scores 40 candidates with inherited weights
# (BN recalibrated) under a hard 1M-MACs limit (6,264 archs fit). The report then retrains the
# best arch and 3 random archs under the same limit from scratch (2 seeds, same budget) next
# to a logistic regression on the pixels, prints the table and writes
# runs/demo/report/report.html. About 5 minutes on 2 cores; reruns resume and reuse finished
# trainings.
DEMO_SET := --set backbone=small --set input_size=16 --set num_classes=10 --set in_channels=1 \
	--set stem_width=16 --set stage_widths=[16,32,64] --set stage_repeats=[1,1,1] \
	--set widths=[0.25,1.0] --set rounding=floor --set kernels=[1,3]
DEMO_RETRAIN := --seeds 2 --epochs 7 --batch-size 128 --lr 0.15 --warmup-epochs 1

demo: $(STAMP)
	$(BIN)/nasengine space show channel_width $(DEMO_SET)
	$(BIN)/nasengine search --space channel_width $(DEMO_SET) --strategy spos --pretrain-epochs 20 \
		--pretrain-set sampling=binned --dataset cluttered --max-macs 1M --trials 40 --controller-set population_size=8 --top-k 3 --seed 0 \
		--out runs/demo $(if $(wildcard runs/demo/study.db),--resume,)
	$(BIN)/nasengine report runs/demo --random 3 $(DEMO_RETRAIN) --out runs/demo/report --quiet
	@echo "what the search found: $(BIN)/nasengine show runs/demo"
	@echo "the supernet's ranking vs training: $(BIN)/nasengine rankcheck runs/demo --table reports/tables/kernels_cluttered.json"

clean:
	rm -rf $(VENV) runs .pytest_cache
