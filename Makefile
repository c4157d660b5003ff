# `make demo` and `make test` set everything up on a fresh machine (Python 3.10+).
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: demo test venv clean

venv: $(STAMP)

# Torch first and pinned: the CUDA build also runs on CPU and brings Triton.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	@touch $@

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

# The default search: SPOS-style evolution over a small ShuffleNet space on the real digits,
# under a hard MACs limit; each candidate trains for 3 epochs (a few minutes on 2 cores).
DEMO_SET := --set input_size=8 --set num_classes=10 --set in_channels=1 \
	--set stem_channels=8 --set stem_stride=1 --set stage_repeats=[1,1,2,1] --set stage_channels=[16,24,32,48] \
	--set last_channels=64

demo: $(STAMP)
	$(BIN)/nasengine space show shufflenet $(DEMO_SET)
	$(BIN)/nasengine search --space shufflenet $(DEMO_SET) --strategy evolution --dataset digits --epochs 3 \
		--max-macs 100K --trials 40 --top-k 3 --seed 0 --out runs/demo $(if $(wildcard runs/demo/study.db),--resume,)
	@echo "retrain one export: $(BIN)/nasengine train --arch runs/demo/exports/<arch-id> --epochs 10 --out runs/retrain"

clean:
	rm -rf $(VENV) runs .pytest_cache
