package dialer

import (
	"fmt"
	"net/url"
)

// urlHop builds the hop a rule names by URL (via scheme://...), reached
// through forward. Hops that hold resources are added to d.owned, which
// Close releases.
func (d *Dialer) urlHop(c *config, u *url.URL, forward ContextDialer) (ContextDialer, error) {
	return nil, fmt.Errorf("unknown hop scheme %q in %s", u.Scheme, maskHop(u.String()))
}
