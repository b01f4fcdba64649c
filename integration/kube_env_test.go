package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/kafkadial/kafkadial/internal/testenv"
)

// kubeVersion is the Kubernetes release that .ci/kube-setup builds from
// integration/testdata/kubeenv.
const kubeVersion = "v1.37.2"

// kubeBinDir is where .ci/kube-setup puts the apiserver and kubenode
// binaries: $KAFKADIAL_KUBE_DIR, else ~/.cache/kafkadial/kube-VERSION.
func kubeBinDir() string {
	if d := os.Getenv("KAFKADIAL_KUBE_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "kafkadial", "kube-"+kubeVersion)
	}
	return filepath.Join(home, ".cache", "kafkadial", "kube-"+kubeVersion)
}

// needKube returns the apiserver and kubenode binaries, or skips (outside
// CI) or fails (in CI) naming what is missing.
func needKube(t testing.TB) (apiserver, kubenode string) {
	t.Helper()
	dir := kubeBinDir()
	apiserver, kubenode = filepath.Join(dir, "apiserver"), filepath.Join(dir, "kubenode")
	var missing []string
	for _, p := range []string{apiserver, kubenode} {
		if fi, err := os.Stat(p); err != nil || fi.Mode()&0o111 == 0 {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		why := fmt.Sprintf("needs a kube-apiserver %s and a kubenode built by .ci/kube-setup (missing %s)", kubeVersion, strings.Join(missing, ", "))
		if testenv.InCI() {
			t.Fatalf("%s, and CI=true: .ci/run should have built them", why)
		}
		t.Skip(why)
	}
	return apiserver, kubenode
}

// kubeEnv is a real kube-apiserver (with embedded etcd) and a kubenode
// standing in for one node's kubelet, both on loopback.
type kubeEnv struct {
	dir        string
	pki        *kubePKI
	apiAddr    string // 127.0.0.1:PORT
	apiserver  *proc
	node       *proc
	nodeAddr   string
	podsFile   string
	admin      kubernetes.Interface
	kubeconfig string // contexts "admin" and "kafka-user" (namespace kafka)
}

// kubeEnvOptions choose the path of a WebSocket-tunnelled port-forward.
// With portForwardWebSockets, the API server takes it and either passes it
// to a node that declares ExtendWebSocketsToKubelet (nodeWebSockets) or
// translates it to SPDY for the node. Without it, the API server proxies
// the upgrade as it is, and a node without nodeWebSockets refuses it (as a
// kubelet without ExtendWebSocketsToKubelet): the client falls back to
// SPDY.
type kubeEnvOptions struct {
	portForwardWebSockets bool
	nodeWebSockets        bool
}

const (
	adminToken = "admin-token-0123456789"
	userToken  = "user-token-0123456789"
	nodeName   = "node-1"
)

func startKubeEnv(t testing.TB, o kubeEnvOptions) *kubeEnv {
	t.Helper()
	apiBin, nodeBin := needKube(t)
	dir := t.TempDir()
	env := &kubeEnv{dir: dir, podsFile: filepath.Join(dir, "pods.json")}
	env.pki = newKubePKI(t, dir)
	pki := env.pki
	apiCert, apiKey := pki.issue(t, "apiserver", "kube-apiserver", nil, true, false)
	kcCert, kcKey := pki.issue(t, "kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, false, true)
	nodeCert, nodeKey := pki.issue(t, "kubelet", "system:node:"+nodeName, []string{"system:nodes"}, true, false)
	saKey := pki.key(t, "sa")
	tokens := filepath.Join(dir, "tokens.csv")
	writeFile(t, tokens, fmt.Sprintf("%s,admin,1,\"system:masters\"\n%s,kafka-user,2\n", adminToken, userToken))
	if err := os.WriteFile(env.podsFile, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}

	env.apiAddr = freeLoopbackAddr(t)
	_, port, _ := net.SplitHostPort(env.apiAddr)
	gates := "NodeDeclaredFeatures=true,PortForwardWebsockets=" + strconv.FormatBool(o.portForwardWebSockets)
	args := []string{"-etcd-dir", filepath.Join(dir, "etcd"), "--",
		"--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", "--secure-port=" + port,
		"--endpoint-reconciler-type=none",
		"--tls-cert-file=" + apiCert, "--tls-private-key-file=" + apiKey,
		"--client-ca-file=" + pki.caFile,
		"--token-auth-file=" + tokens,
		"--authorization-mode=RBAC",
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-key-file=" + saKey, "--service-account-signing-key-file=" + saKey,
		"--service-cluster-ip-range=198.18.240.0/24",
		"--kubelet-certificate-authority=" + pki.caFile,
		"--kubelet-client-certificate=" + kcCert, "--kubelet-client-key=" + kcKey,
		"--kubelet-preferred-address-types=InternalIP",
		"--feature-gates=" + gates,
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	}
	env.apiserver = startProc(t, "apiserver", apiBin, args...)
	env.kubeconfig = env.writeKubeconfig(t)
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: env.kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: "admin"}).ClientConfig()
	if err != nil {
		t.Fatal(err)
	}
	env.admin = kubernetes.NewForConfigOrDie(cfg)
	env.waitReady(t)

	env.nodeAddr = freeLoopbackAddr(t)
	env.node = startProc(t, "kubenode", nodeBin, "-addr", env.nodeAddr, "-cert", nodeCert, "-key", nodeKey,
		"-client-ca", pki.caFile, "-pods", env.podsFile, "-websockets="+strconv.FormatBool(o.nodeWebSockets))
	env.node.waitListening(t, env.nodeAddr)
	env.createNode(t, o.nodeWebSockets)
	return env
}

func (env *kubeEnv) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // 2 s alone; far longer on a busy machine
	var last error
	for time.Now().Before(deadline) {
		if env.apiserver.exited() {
			t.Fatalf("apiserver exited: %s", env.apiserver.tail())
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, last = env.admin.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		cancel()
		if last == nil {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("apiserver not ready after 3 minutes: %v\n%s", last, env.apiserver.tail())
}

func (env *kubeEnv) createNode(t testing.TB, webSockets bool) {
	t.Helper()
	if _, err := env.admin.CoreV1().Nodes().Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: nodeName}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	env.setNodeStatus(t, webSockets)
}

// setNodeStatus sets the node's address, kubelet port and readiness, and
// whether it declares ExtendWebSocketsToKubelet.
func (env *kubeEnv) setNodeStatus(t testing.TB, webSockets bool) {
	t.Helper()
	ctx := context.Background()
	n, err := env.admin.CoreV1().Nodes().Get(ctx, nodeName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(env.nodeAddr)
	p, _ := strconv.Atoi(port)
	n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	n.Status.DeclaredFeatures = nil
	if webSockets {
		n.Status.DeclaredFeatures = []string{"ExtendWebSocketsToKubelet"}
	}
	if _, err := env.admin.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// writeKubeconfig writes a kubeconfig with contexts admin and kafka-user.
func (env *kubeEnv) writeKubeconfig(t testing.TB) string {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["test"] = &clientcmdapi.Cluster{Server: "https://" + env.apiAddr, CertificateAuthorityData: env.pki.caPEM}
	cfg.AuthInfos["admin"] = &clientcmdapi.AuthInfo{Token: adminToken}
	cfg.AuthInfos["kafka-user"] = &clientcmdapi.AuthInfo{Token: userToken}
	cfg.Contexts["admin"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "admin"}
	cfg.Contexts["kafka-user"] = &clientcmdapi.Context{Cluster: "test", AuthInfo: "kafka-user", Namespace: "kafka"}
	cfg.CurrentContext = "kafka-user"
	path := filepath.Join(env.dir, "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// setPods tells the kubenode where each pod's ports are:
// {"NAMESPACE/POD": {"PORT": "127.0.0.1:N"}}.
func (env *kubeEnv) setPods(t testing.TB, pods map[string]map[string]string) {
	t.Helper()
	data, err := json.Marshal(pods)
	if err != nil {
		t.Fatal(err)
	}
	tmp := env.podsFile + ".tmp"
	writeFile(t, tmp, string(data))
	if err := os.Rename(tmp, env.podsFile); err != nil {
		t.Fatal(err)
	}
}

// restartNode kills the kubenode (every port-forward through it ends, as
// when a kubelet restarts) and starts it again on the same address.
func (env *kubeEnv) restartNode(t testing.TB) {
	t.Helper()
	env.node.kill()
	env.node = env.node.restart(t)
	env.node.waitListening(t, env.nodeAddr)
}

// stopAPIServer stops the API server (and its etcd).
func (env *kubeEnv) stopAPIServer() { env.apiserver.kill() }

// proc is a child process whose output goes to a file in the test's
// directory; it is killed when the test ends.
type proc struct {
	name, bin string
	args      []string
	log       string
	cmd       *exec.Cmd
	done      chan struct{}
}

func startProc(t testing.TB, name, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, bin: bin, args: args, log: filepath.Join(t.TempDir(), name+".log")}
	f, err := os.OpenFile(p.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = f, f
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		f.Close()
		t.Fatalf("starting %s: %v", name, err)
	}
	p.done = make(chan struct{})
	go func() { p.cmd.Wait(); f.Close(); close(p.done) }()
	t.Cleanup(p.kill)
	return p
}

func (p *proc) restart(t testing.TB) *proc { return startProc(t, p.name, p.bin, p.args...) }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the process: SIGTERM, then SIGKILL after 10 s.
func (p *proc) kill() {
	if p.exited() {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// tail returns the end of the process's output.
func (p *proc) tail() string {
	data, _ := os.ReadFile(p.log)
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// output returns the process's output so far.
func (p *proc) output() string {
	data, _ := os.ReadFile(p.log)
	return string(data)
}

func (p *proc) waitListening(t testing.TB, addr string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("%s exited: %s", p.name, p.tail())
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("%s not listening on %s after 30 s: %s", p.name, addr, p.tail())
}

// freeLoopbackAddr returns a loopback address with a port free right now.
func freeLoopbackAddr(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func writeFile(t testing.TB, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
}

// kubePKI is a throwaway CA with PEM files for the API server, its kubelet
// client and the node.
type kubePKI struct {
	dir    string
	ca     *x509.Certificate
	caKey  *ecdsa.PrivateKey
	caFile string
	caPEM  []byte
	mu     sync.Mutex
	serial int64
}

func newKubePKI(t testing.TB, dir string) *kubePKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafkadial kube test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &kubePKI{dir: dir, ca: ca, caKey: key, caFile: filepath.Join(dir, "ca.crt"), serial: 1}
	p.caPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	writeFile(t, p.caFile, string(p.caPEM))
	return p
}

// key writes a new EC key as NAME.key and returns its path.
func (p *kubePKI) key(t testing.TB, name string) string {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return p.writeKey(t, name, k)
}

func (p *kubePKI) writeKey(t testing.TB, name string, k *ecdsa.PrivateKey) string {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(p.dir, name+".key")
	writeFile(t, path, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der})))
	return path
}

// issue writes NAME.crt and NAME.key: a certificate for CN and groups
// (O), valid for 127.0.0.1 as a server and/or as a client.
func (p *kubePKI) issue(t testing.TB, name, cn string, groups []string, server, client bool) (certFile, keyFile string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p.mu.Lock()
	p.serial++
	serial := p.serial
	p.mu.Unlock()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn, Organization: groups},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
		tmpl.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		tmpl.DNSNames = []string{"localhost"}
	}
	if client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &k.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	certFile = filepath.Join(p.dir, name+".crt")
	writeFile(t, certFile, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	return certFile, p.writeKey(t, name, k)
}
