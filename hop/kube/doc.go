// Package kube reaches Kafka brokers inside Kubernetes through the API
// server's port-forward, in process: no kubectl, no root, no /etc/hosts.
//
//	kd, err := kube.New(kube.WithContext("prod")) // kubeconfig as kubectl reads it
//	if err != nil { ... }
//	defer kd.Close()
//	d, err := dialer.New(
//		dialer.WithVia("kube", kd),
//		dialer.WithRules("*.kafka.svc:9092 => = via kube"),
//	)
//	// franz-go: kgo.SeedBrokers("my-cluster-kafka-bootstrap.kafka.svc:9092"), franzdial.Opt(d)
//
// or, naming the context in the rule:
//
//	d, err := dialer.New(
//		dialer.WithScheme("k8s", kube.NewBuilder()),
//		dialer.WithRules("*.kafka.svc:9092 => = via k8s://prod"), // k8s:// = the current context
//	)
//
// Brokers in Kubernetes advertise in-cluster names such as
// my-cluster-kafka-0.my-cluster-kafka-brokers.kafka.svc:9092 (Strimzi),
// kafka-0.kafka-headless.kafka.svc.cluster.local:9092 (Bitnami) or
// kafka-0.kafka.kafka.svc:9092 (a plain StatefulSet): every broker on the
// same port, so one `kubectl port-forward` cannot stand for them all. A
// [Dialer] maps each address to a pod and port, as cluster DNS would:
//
//   - POD.SUBDOMAIN.NS.svc[.cluster.local]:PORT (the per-pod name of a
//     headless service): port PORT of pod POD in namespace NS;
//   - SVC.NS.svc[.cluster.local]:PORT, SVC.NS:PORT and SVC:PORT: a ready pod
//     behind service SVC, found in its EndpointSlices, at the service port's
//     targetPort (named ports too);
//   - a pod IP: the running pod with that IP.
//
// A cluster whose DNS is under another domain than cluster.local
// (the kubelet's --cluster-domain) is named with WithClusterDomain, or in
// a hop URL: k8s://prod/kafka?cluster-domain=k8s.corp.example.
//
// Each pod has one port-forward connection, opened on the first dial and
// shared by every connection to that pod (SPDY tunnelled in a WebSocket, or
// SPDY when the API server refuses the WebSocket upgrade, as kubectl
// does). A dropped connection ends its conns with [ErrLost]; the next dial
// opens a new one, and dials meanwhile wait for that one attempt. Conns
// support deadlines and CloseWrite.
//
// Authentication is client-go's: client certificates, tokens, exec
// credential plugins (EKS, GKE), OIDC. Credentials never reach errors or
// logs. A failed dial returns an [*Error] that names the pod or service and
// the namespace and wraps one of [ErrNotFound], [ErrNotRunning],
// [ErrNoEndpoints], [ErrForbidden], [ErrUnauthorized], [ErrUnreachable].
//
// The RBAC the kubeconfig's user needs, in the brokers' namespace: pods
// get and list, services get, endpointslices (discovery.k8s.io) list, and
// pods/portforward get (the WebSocket upgrade is a GET) and create (SPDY's
// POST; with create alone the dialer falls back to SPDY).
package kube
