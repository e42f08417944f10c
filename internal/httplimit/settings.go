package httplimit

import "github.com/goaleph/goaleph/internal/settings"

// Settings are the rows of c in a role's settings table (flags http-…,
// keys http.…), with def's values as their defaults.
func (c *Config) Settings(def Config) []*settings.Setting {
	return []*settings.Setting{
		settings.Duration(&c.ReadHeaderTimeout, "http-read-header-timeout", "http.read_header_timeout", def.ReadHeaderTimeout, "how long a client may take to send a request's headers"),
		settings.Duration(&c.WriteTimeout, "http-write-timeout", "http.write_timeout", def.WriteTimeout, "how long writing a response may take, from the end of its request (websockets excepted)"),
		settings.Duration(&c.IdleTimeout, "http-idle-timeout", "http.idle_timeout", def.IdleTimeout, "close a keep-alive connection idle for this long"),
		settings.Int64(&c.MinBodyRate, "http-min-body-rate", "http.min_body_rate", def.MinBodyRate, "slowest request body accepted, in bytes/s averaged over --http-body-rate-window"),
		settings.Duration(&c.BodyRateWindow, "http-body-rate-window", "http.body_rate_window", def.BodyRateWindow, "window of --http-min-body-rate: a stalled body is dropped after about this long"),
		settings.Int(&c.MaxHeaderBytes, "http-max-header-bytes", "http.max_header_bytes", def.MaxHeaderBytes, "largest request line and headers, in bytes"),
		settings.Int(&c.MaxBodies, "http-max-bodies", "http.max_bodies", def.MaxBodies, "requests with a body in flight at once; more get 503"),
		settings.Int(&c.MaxConnsPerIP, "http-max-conns-per-ip", "http.max_conns_per_ip", def.MaxConnsPerIP, "open connections per remote address (0: no cap)"),
	}
}
