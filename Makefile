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

demo: $(STAMP)
	$(BIN)/nasengine space show shufflenet --set input_size=8 --set num_classes=10 --set in_channels=1 \
		--set stem_channels=8 --set stem_stride=1 --set stage_repeats=[1,1,2,1] --set stage_channels=[16,32,64,128] \
		--set last_channels=256
	$(BIN)/nasengine cost --space nas_cell --arch nasnet_a --set cells_per_stage=4 --set filters=44 \
		--set stem=imagenet --set input_size=224 --set num_classes=1000 --verify
	$(BIN)/nasengine train --space shufflenet --arch '{"block0": "k3", "block1": "k5", "block2": "k7", "block3": "xception", "block4": "k3"}' \
		--set input_size=8 --set num_classes=10 --set in_channels=1 --set stem_channels=8 --set stem_stride=1 \
		--set stage_repeats=[1,1,2,1] --set stage_channels=[16,32,64,128] --set last_channels=256 \
		--dataset digits --epochs 8 --lr 0.1 --out runs/demo
	@echo "results: runs/demo/metrics.json, runs/demo/weights.pt, runs/demo/config.yaml"

clean:
	rm -rf $(VENV) runs .pytest_cache
