module github.com/kafkadial/kafkadial/integration

go 1.26.0

require (
	github.com/kafkadial/kafkadial v0.0.0-00010101000000-000000000000
	github.com/kafkadial/kafkadial/adapters/franzdial v0.0.0-00010101000000-000000000000
	github.com/kafkadial/kafkadial/adapters/kafkagodial v0.0.0-00010101000000-000000000000
	github.com/kafkadial/kafkadial/adapters/saramadial v0.0.0-00010101000000-000000000000
	github.com/kafkadial/kafkadial/kafkatest v0.0.0-00010101000000-000000000000
)

replace (
	github.com/kafkadial/kafkadial => ../
	github.com/kafkadial/kafkadial/adapters/franzdial => ../adapters/franzdial
	github.com/kafkadial/kafkadial/adapters/kafkagodial => ../adapters/kafkagodial
	github.com/kafkadial/kafkadial/adapters/saramadial => ../adapters/saramadial
	github.com/kafkadial/kafkadial/kafkatest => ../kafkatest
)
