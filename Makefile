# crmloop: `make demo` runs it end to end, `make test` checks it. Both bootstrap .venv.
PY ?= python3
VENV := .venv
BIN := $(CURDIR)/$(VENV)/bin
STAMP := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
POSTGRES_STAMP := $(VENV)/.installed-postgres
export CRM_HOME ?= $(CURDIR)/.crm
export CRM_LANDING_DIR ?= $(CURDIR)/data/landing
export DAGSTER_HOME ?= $(CRM_HOME)/dagster
DEMO_CUSTOMERS ?= 35000
DEMO_SEED ?= 42

.PHONY: install install-spark install-postgres demo dev test test-slow test-all bench lint clean

# the default install has no Spark (pyspark + dbt-spark add ~0.5 GB); the Spark target and its
# tests need `make install-spark`, which `make test-slow` (and so CI) runs; likewise dagster-postgres
# (Dagster's instance storage on PostgreSQL, docs/DEPLOY.md) is the extra of `make install-postgres`
# npm ci: the Data Docs' bootstrap-table and vega, which no PyPI package ships (package-lock.json)
$(STAMP): pyproject.toml constraints.txt package-lock.json
	test -x $(VENV)/bin/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip "setuptools<82" wheel
	$(BIN)/pip install -q -c constraints.txt -e ".[dev]"
	npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	touch $(STAMP)

$(SPARK_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,spark]"
	touch $(SPARK_STAMP)

$(POSTGRES_STAMP): $(STAMP)
	$(BIN)/pip install -q -c constraints.txt -e ".[dev,postgres]"
	touch $(POSTGRES_STAMP)

install: $(STAMP)

install-spark: $(SPARK_STAMP)

install-postgres: $(POSTGRES_STAMP)

demo: install
	$(BIN)/crmloop demo --customers $(DEMO_CUSTOMERS) --seed $(DEMO_SEED)

dev: install
	$(BIN)/crmloop dev

test: install
	$(BIN)/pytest -m "not slow" -q

# exit 5 = no test selected: not a failure for the slow suite of a checkout that has none
test-slow: install-spark install-postgres
	$(BIN)/pytest -m "slow" -q || test $$? -eq 5

test-all: test test-slow

bench: install
	$(BIN)/python -m bench.run

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf .crm data dbt_project/target dbt_project/logs node_modules
