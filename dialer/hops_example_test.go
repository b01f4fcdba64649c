package dialer_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/kafkadial/kafkadial/dialer"
)

// Brokers that only a bastion reaches: every broker connection goes through
// one SSH connection to the bastion, which resolves and dials the advertised
// name. The bastion is a Host alias of the user's ssh_config; hops are
// connected at the first dial, so Route explains the path without a network.
func ExampleWithSSHConfig() {
	dir, _ := os.MkdirTemp("", "kafkadial-example")
	defer os.RemoveAll(dir)
	cfg := filepath.Join(dir, "ssh_config")
	os.WriteFile(cfg, []byte(`Host bastion
  HostName bastion.example.com
  User ops
Host inner
  HostName 10.0.0.5
  ProxyJump bastion
`), 0o600)

	d, err := dialer.New(
		dialer.WithSSHConfig(cfg),
		dialer.WithRules(`
kafka-{id}:9092    => =               via ssh://bastion
b-{n}.msk:9094     => =               via ssh://inner     # ProxyJump bastion, from ssh_config
10.1.0.0/16        => =               via socks5h://127.0.0.1:1080
*.corp:9092        => =               via http://user:secret@proxy.corp:3128
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer d.Close()
	for _, addr := range []string{"kafka-2:9092", "b-1.msk:9094", "10.1.2.3:9092", "k1.corp:9092"} {
		rt, _ := d.Route(addr)
		fmt.Printf("%-14s via %s\n", rt.Addr, rt.Via)
	}
	// Output:
	// kafka-2:9092   via ssh://bastion
	// b-1.msk:9094   via ssh://inner
	// 10.1.2.3:9092  via socks5h://127.0.0.1:1080
	// k1.corp:9092   via http://user:***@proxy.corp:3128
}
