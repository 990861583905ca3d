# sgseg: the two commands a newcomer needs are `make demo` and `make test`.
PY := .venv/bin/python
export PYTHONPATH := $(CURDIR):$(PYTHONPATH)

.PHONY: install demo test

install:
	bash tools/install.sh

demo: install
	bash tools/run_demo.sh

# pytest exits 5 when it collects nothing: that is a failure here too.
test: install
	$(PY) -m pytest tests -q -p no:cacheprovider
