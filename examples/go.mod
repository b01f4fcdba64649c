module github.com/kafkadial/kafkadial/examples

go 1.26.0
