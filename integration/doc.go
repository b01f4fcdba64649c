// Package integration holds the end-to-end tests: the real sarama, franz-go
// and kafka-go clients against an embedded kfake cluster, through kafkadial.
package integration
