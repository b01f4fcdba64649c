package integration

import (
	"context"
	"testing"
	"time"

	"github.com/kafkadial/kafkadial/adapters/franzdial"
	"github.com/kafkadial/kafkadial/internal/dockertest"
	"github.com/kafkadial/kafkadial/resolver/docker"
	"github.com/testcontainers/testcontainers-go"
	"github.com/testcontainers/testcontainers-go/wait"
)

// A testcontainers-go suite, as users write them: the broker image started
// with its port exposed on a random host port, the broker advertising its
// container name. The client reaches it by that name with no rules: the
// Docker resolver finds the random port. (Its reaper image cannot be
// pulled here, so the reaper is off; the test removes the container.)
func TestDockerTestcontainers(t *testing.T) {
	e := dockertest.Need(t)
	img := e.Image(kfakeImage)
	t.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	name := e.Name("kafka-tc")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := testcontainers.Run(ctx, img,
		testcontainers.WithName(name),
		testcontainers.WithExposedPorts("29092/tcp"),
		testcontainers.WithCmd("-brokers", "1", "-listen", ":29092", "-advertise", name+":29092", "-topic", "events:6"),
		testcontainers.WithLabels(map[string]string{dockertest.Label: e.Run}),
		testcontainers.WithWaitStrategy(wait.ForLog("ready").WithStartupTimeout(30*time.Second)),
	)
	testcontainers.CleanupContainer(t, c)
	if err != nil {
		t.Fatal(err)
	}
	mapped, err := c.MappedPort(ctx, "29092/tcp")
	if err != nil {
		t.Fatal(err)
	}
	r := dockerResolver(t, docker.WithHost(e.Host))
	tg := newTargets("resolver")
	d := dockerDialer(t, r, tg)
	testFranz(t, name+":29092", "tc-franz", 1000, franzdial.Opt(d))
	got := tg.of(name + ":29092")
	if len(got) != 1 || got[0] != "127.0.0.1:"+mapped.Port() {
		t.Fatalf("%s:29092 dialled at %v, want the random port testcontainers mapped (127.0.0.1:%s)", name, got, mapped.Port())
	}
	t.Logf("testcontainers mapped 29092 to %s; the resolver found it", mapped.Port())
}
