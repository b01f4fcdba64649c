module github.com/kafkadial/kafkadial/cmd/kafkadial

go 1.26.0

replace github.com/kafkadial/kafkadial => ../..
