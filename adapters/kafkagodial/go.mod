module github.com/kafkadial/kafkadial/adapters/kafkagodial

go 1.26.8
