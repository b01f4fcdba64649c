// Unpublished: never tagged or released, and outside the workspace on purpose:
// the side-by-side proxy benchmark of scripts/proxy-bench.sh (BENCHMARKS.md).
// It runs kafkadial proxy, grepplabs/kafka-proxy and a plain forwarder as
// separate processes and measures them from /proc; it imports no kafkadial code.
module github.com/kafkadial/kafkadial/integration/testdata/proxybench

go 1.26.0

require (
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)

require (
	github.com/klauspost/compress v1.20.3 // indirect
	github.com/pierrec/lz4/v4 v4.1.33 // indirect
)
