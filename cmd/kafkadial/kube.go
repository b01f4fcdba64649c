package main

import (
	"github.com/kafkadial/kafkadial/dialer"
	"github.com/kafkadial/kafkadial/hop/kube"
)

// hopSchemes are the hop schemes the command adds to the dialer's own:
// "via k8s://CONTEXT" reaches pods by port-forward through the API server
// of a kubeconfig context (package hop/kube; "k8s://" is the current one).
// The kubeconfig is read only when a rule names such a hop. The builder
// is the command's, not the dialer's (a dialer never closes a builder it
// was given): the caller closes it when it is done with every dialer.
func hopSchemes() ([]dialer.Option, func() error) {
	b := kube.NewBuilder()
	return []dialer.Option{dialer.WithScheme("k8s", b)}, b.Close
}
