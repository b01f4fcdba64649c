module github.com/kafkadial/kafkadial/adapters/saramadial

go 1.26.8
