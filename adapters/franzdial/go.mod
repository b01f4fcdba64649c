module github.com/kafkadial/kafkadial/adapters/franzdial

go 1.26.8
