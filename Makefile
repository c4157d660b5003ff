# `make demo` and `make test` set everything up on a fresh machine (Python 3.10+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test lint typecheck venv clean

venv: $(STAMP)

# Torch first and pinned: the CUDA build also runs on CPU and brings Triton.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

# Lint and type-check first: they take seconds and fail before the long suite starts.
test: lint typecheck
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/python -m ruff check .

typecheck: $(STAMP)
	$(BIN)/python -m mypy

# The default search: Single Path One-Shot on the real digits. A ShuffleNet supernet with
# block and channel choices trains for 40 epochs (one path per step, drawn uniformly over
# MACs bins under the limit), then evolution scores 60 candidates with inherited weights
# (BN recalibrated) under a hard MACs limit. A few minutes on 2 cores; reruns resume.
DEMO_SET := --set input_size=8 --set num_classes=10 --set in_channels=1 \
	--set stem_channels=8 --set stem_stride=1 --set stage_repeats=[2,2] --set stage_channels=[16,32] \
	--set last_channels=64 --set channel_search=true --set channel_scales=[0.25,0.5,0.75,1.0]
DEMO_PRETRAIN := --pretrain-epochs 40 --pretrain-set batch_size=32 --pretrain-set lr=0.03 \
	--pretrain-set sampling=binned --pretrain-set bins=5

demo: $(STAMP)
	$(BIN)/nasengine space show shufflenet $(DEMO_SET)
	$(BIN)/nasengine search --space shufflenet $(DEMO_SET) --strategy spos $(DEMO_PRETRAIN) --dataset digits \
		--max-macs 40K --trials 60 --top-k 3 --seed 0 --out runs/demo $(if $(wildcard runs/demo/study.db),--resume,)
	@echo "retrain one export: $(BIN)/nasengine train --arch runs/demo/exports/<arch-id> --epochs 10 --out runs/retrain"
	@echo "rank check: $(BIN)/nasengine rankcheck runs/demo --samples 20 --epochs 3"

clean:
	rm -rf $(VENV) runs .pytest_cache
