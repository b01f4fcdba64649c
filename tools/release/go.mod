// Unpublished: this module is never tagged or released (see RELEASING.md).
// It is the release command: go run ./tools/release help
module github.com/kafkadial/kafkadial/tools/release

go 1.26.0

require golang.org/x/mod v0.42.0
