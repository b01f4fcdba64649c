module github.com/kafkadial/kafkadial/proxy

go 1.26.0

require (
	github.com/kafkadial/kafkadial v0.1.0
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)
