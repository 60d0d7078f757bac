# Each entry point creates .venv and installs the project on first use.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: demo test bench lint clean dashboard-assets

$(STAMP): pyproject.toml
	test -x $(PY) || python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/shelflm demo

test: $(STAMP)
	$(PY) -m pytest -q

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check .

# The dashboard's chart library, vendored from the npm registry (the package ships it; the
# page loads nothing from the network). Run to move to another uPlot release.
UPLOT := 1.6.32
VENDOR := src/shelflm/serving/http/dashboard/static/vendor
dashboard-assets:
	rm -rf build/uplot && mkdir -p build/uplot
	cd build/uplot && npm pack uplot@$(UPLOT) --silent && tar xzf uplot-$(UPLOT).tgz
	cp build/uplot/package/dist/uPlot.iife.min.js build/uplot/package/dist/uPlot.min.css $(VENDOR)/
	cp build/uplot/package/LICENSE $(VENDOR)/uPlot.LICENSE

clean:
	rm -rf $(VENV) build *.egg-info src/*.egg-info
