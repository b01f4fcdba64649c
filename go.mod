module github.com/kafkadial/kafkadial

go 1.24
