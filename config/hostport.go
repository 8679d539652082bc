package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkHostPort checks a TCP listen address such as metrics_listen:
// "host:port" with a numeric port from 1 to 65535; the host may be a name,
// an IP address ("[::1]" for IPv6), or empty for every interface.
func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port", s)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port %q is not a number from 1 to 65535", s, port)
	}
	return nil
}
