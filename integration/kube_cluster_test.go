package integration

import (
	"context"
	"fmt"
	"net"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/kafkadial/kafkadial/kafkatest"
)

// strimzi is a Strimzi-shaped Kafka cluster in namespace kafka: broker
// pods my-cluster-kafka-0..2 (hostname = pod name, subdomain
// my-cluster-kafka-brokers), a headless service my-cluster-kafka-brokers,
// a bootstrap service my-cluster-kafka-bootstrap (targetPort named
// tcp-clients) and their EndpointSlices written by hand, as no controller
// manager runs. Each broker is a kfake broker on loopback that advertises
// its per-pod name; the kubenode forwards each pod's port 9092 to it.
type strimzi struct {
	kf      *kfake.Cluster
	listen  []string // where broker i really listens
	podIPs  []string
	pods    map[string]map[string]string // kubenode's table
	brokers []string                     // advertised addresses
}

const (
	kafkaNS   = "kafka"
	bootstrap = "my-cluster-kafka-bootstrap.kafka.svc:9092"
)

func podNameOf(i int) string { return fmt.Sprintf("my-cluster-kafka-%d", i) }

func startStrimzi(t testing.TB, env *kubeEnv) *strimzi {
	t.Helper()
	s := &strimzi{pods: map[string]map[string]string{}}
	n := 0
	kf, err := kfake.NewCluster(
		kfake.NumBrokers(3),
		kfake.SeedTopics(partitions, topic),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			i := n
			n++
			ln, err := net.Listen(network, "127.0.0.1:0")
			if err != nil {
				return nil, err
			}
			adv := fmt.Sprintf("%s.my-cluster-kafka-brokers.kafka.svc:9092", podNameOf(i))
			s.listen = append(s.listen, ln.Addr().String())
			s.brokers = append(s.brokers, adv)
			return kafkatest.AdvertiseAs(ln, adv), nil
		}),
	)
	if err != nil {
		t.Fatal(err)
	}
	s.kf = kf
	t.Cleanup(kf.Close)

	ctx := context.Background()
	cs := env.admin
	mustNS(t, env, kafkaNS)
	labels := map[string]string{"strimzi.io/cluster": "my-cluster", "strimzi.io/kind": "Kafka", "strimzi.io/name": "my-cluster-kafka", "strimzi.io/broker-role": "true"}
	var eps []discoveryv1.Endpoint
	for i := range 3 {
		name := podNameOf(i)
		ip := fmt.Sprintf("198.18.0.%d", 10+i) // never dialled: the dialer maps it to the pod
		s.podIPs = append(s.podIPs, ip)
		createPod(t, env, kafkaNS, name, labels, "my-cluster-kafka-brokers", corev1.PodRunning, ip)
		s.pods[kafkaNS+"/"+name] = map[string]string{"9092": s.listen[i]}
		ready := true
		eps = append(eps, discoveryv1.Endpoint{
			Addresses:  []string{ip},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			Hostname:   ptr(name),
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: kafkaNS, Name: name},
			NodeName:   ptr(nodeName),
		})
	}
	// A pod scheduled but not running, and one not on any node's table.
	createPod(t, env, kafkaNS, "my-cluster-kafka-9", labels, "my-cluster-kafka-brokers", corev1.PodPending, "")
	env.setPods(t, s.pods)

	svc := func(name string, headless bool, port int32, portName string, target intstr.IntOrString) {
		sv := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: kafkaNS, Labels: labels},
			Spec: corev1.ServiceSpec{
				Selector: labels,
				Ports:    []corev1.ServicePort{{Name: portName, Port: port, TargetPort: target, Protocol: corev1.ProtocolTCP}},
			},
		}
		if headless {
			sv.Spec.ClusterIP = corev1.ClusterIPNone
		}
		if _, err := cs.CoreV1().Services(kafkaNS).Create(ctx, sv, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		es := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: name + "-x1", Namespace: kafkaNS, Labels: map[string]string{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: "kafkadial-test"}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   eps,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr(portName), Port: ptr(int32(9092)), Protocol: ptr(corev1.ProtocolTCP)}},
		}
		if _, err := cs.DiscoveryV1().EndpointSlices(kafkaNS).Create(ctx, es, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	svc("my-cluster-kafka-brokers", true, 9092, "tcp-clients", intstr.FromInt32(9092))
	svc("my-cluster-kafka-bootstrap", false, 9092, "tcp-clients", intstr.FromString("tcp-clients"))
	// A service port that differs from the pods' port, through a named
	// targetPort: 19092 must reach the pods' 9092.
	svc("my-cluster-kafka-external", false, 19092, "tcp-external", intstr.FromString("tcp-clients"))
	// A service with no ready pod.
	if _, err := cs.CoreV1().Services(kafkaNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "empty", Namespace: kafkaNS},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": "none"}, Ports: []corev1.ServicePort{{Port: 9092}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// kafka-user may read and port-forward in kafka; in namespace
	// restricted it may read but not port-forward.
	grantKafkaUser(t, env, kafkaNS, true)
	mustNS(t, env, "restricted")
	createPod(t, env, "restricted", "kafka-0", labels, "", corev1.PodRunning, "198.18.0.20")
	grantKafkaUser(t, env, "restricted", false)
	return s
}

func mustNS(t testing.TB, env *kubeEnv, ns string) {
	t.Helper()
	ctx := context.Background()
	if _, err := env.admin.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// No controller manager: the namespace's default ServiceAccount is ours
	// to create (pods need it to be admitted).
	if _, err := env.admin.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createPod creates a pod bound to the node and sets its status, as a
// kubelet would.
func createPod(t testing.TB, env *kubeEnv, ns, name string, labels map[string]string, subdomain string, phase corev1.PodPhase, ip string) {
	t.Helper()
	ctx := context.Background()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: corev1.PodSpec{
			Hostname:  name,
			Subdomain: subdomain,
			NodeName:  nodeName,
			Containers: []corev1.Container{{
				Name: "kafka", Image: "quay.io/strimzi/kafka:never-pulled",
				Ports: []corev1.ContainerPort{{Name: "tcp-clients", ContainerPort: 9092, Protocol: corev1.ProtocolTCP}},
			}},
		},
	}
	p, err := env.admin.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = phase
	if ip != "" {
		p.Status.PodIP = ip
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
		p.Status.HostIP = "127.0.0.1"
		p.Status.HostIPs = []corev1.HostIP{{IP: "127.0.0.1"}}
	}
	if phase == corev1.PodRunning {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	}
	if _, err := env.admin.CoreV1().Pods(ns).UpdateStatus(ctx, p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// grantKafkaUser gives kafka-user what the dialer needs in ns: pods get
// and list, services get, endpointslices list, and, when portForward is
// set, pods/portforward get (the WebSocket upgrade is a GET) and create
// (SPDY's POST).
func grantKafkaUser(t testing.TB, env *kubeEnv, ns string, portForward bool) {
	t.Helper()
	ctx := context.Background()
	rules := []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"pods", "services"}, Verbs: []string{"get", "list"}},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list"}},
	}
	if portForward {
		rules = append(rules, rbacv1.PolicyRule{APIGroups: []string{""}, Resources: []string{"pods/portforward"}, Verbs: []string{"get", "create"}})
	}
	if _, err := env.admin.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "kafka-client"}, Rules: rules}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	rb := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "kafka-client"},
		RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "kafka-client"},
		Subjects:   []rbacv1.Subject{{Kind: "User", APIGroup: "rbac.authorization.k8s.io", Name: "kafka-user"}},
	}
	if _, err := env.admin.RbacV1().RoleBindings(ns).Create(ctx, rb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }
