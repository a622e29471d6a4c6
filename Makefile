# The two commands a new user needs: `make dev` runs the service locally, `make test` tests it.
.PHONY: dev stop test fuzz lint build-lambda openapi bench

dev: ## install what is missing, start DynamoDB Local, moto and the dev gateway on 127.0.0.1:3000 (console page: http://localhost:3000/)
	./local/stack.sh up

stop: ## stop everything `make dev` started
	./local/stack.sh down

test: ## install and start what the tests need, then run every test (unit and black-box)
	./local/test.sh

fuzz: ## the long contract fuzz run (schemathesis, >= 10,000 requests) against a private gateway
	./local/test.sh fuzz

lint: ## formatting, clippy and the template linter
	cargo fmt --all -- --check
	cargo clippy -q --workspace --all-targets -- -D warnings
	./infra/lint.sh

bench: ## cold start, memory and size of every function against a hello world; writes docs/PERFORMANCE.md
	./local/bench.sh

build-lambda: ## cross-build every function for Lambda (arm64) with cargo-lambda
	./infra/build.sh

openapi: ## write the OpenAPI document the code declares to docs/openapi.json
	cargo run -q -p local-dev --bin openapi > docs/openapi.json
