module github.com/kafkadial/kafkadial/adapters/kafkagodial

go 1.26.0

require (
	github.com/kafkadial/kafkadial v0.1.0
	github.com/segmentio/kafka-go v0.4.51
)

require (
	github.com/kevinburke/ssh_config v1.6.0 // indirect
	github.com/klauspost/compress v1.15.9 // indirect
	github.com/pierrec/lz4/v4 v4.1.15 // indirect
	golang.org/x/crypto v0.59.0 // indirect
	golang.org/x/net v0.62.0 // indirect
	golang.org/x/sys v0.50.0 // indirect
)
