module github.com/kafkadial/kafkadial/proxy

go 1.26.0

require (
	github.com/IBM/sarama v1.61.1
	github.com/kafkadial/kafkadial v0.1.0
	github.com/segmentio/kafka-go v0.4.51
	github.com/twmb/franz-go v1.22.3
	github.com/twmb/franz-go/pkg/kfake v0.0.0-20260918054303-01f206a7e32c
	github.com/twmb/franz-go/pkg/kmsg v1.15.1
)
