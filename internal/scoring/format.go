package scoring

// The messages of quality control, in the reference's format (spec
// network.md §2.1, §2.2). Latencies are seconds; a failed probe leaves
// its field out.

// Channel and post types of the reference.
const (
	Channel         = "aleph-scoring"
	MetricsPostType = "aleph-network-metrics"
	ScoresPostType  = "aleph-scoring-scores"
)

// MetricsPost is the content of a scorer's measurements post.
type MetricsPost struct {
	Version string   `json:"version"`
	Tags    []string `json:"tags"`
	Metrics Metrics  `json:"metrics"`
}

// Metrics are the measurements of one probe round.
type Metrics struct {
	Server       string       `json:"server"`
	ServerASN    int          `json:"server_asn"`
	ServerASName string       `json:"server_as_name"`
	CCN          []CCNMetrics `json:"ccn"`
	CRN          []CRNMetrics `json:"crn"`
}

// CCNMetrics is one probe of a core node.
type CCNMetrics struct {
	MeasuredAt       float64  `json:"measured_at"`
	NodeID           string   `json:"node_id"`
	URL              string   `json:"url"`
	Version          *string  `json:"version,omitempty"`
	ASN              *int     `json:"asn,omitempty"`
	BaseLatency      *float64 `json:"base_latency,omitempty"`
	BaseLatencyIPv4  *float64 `json:"base_latency_ipv4,omitempty"`
	MetricsLatency   *float64 `json:"metrics_latency,omitempty"`
	AggregateLatency *float64 `json:"aggregate_latency,omitempty"`
}

// CRNMetrics is one probe of a compute node. AppChecks is goaleph's
// addition (the reference's readers ignore it): per program hash served
// by the node, the time its app-defined checks took, or null when one
// failed.
type CRNMetrics struct {
	MeasuredAt          float64             `json:"measured_at"`
	NodeID              string              `json:"node_id"`
	URL                 string              `json:"url"`
	Version             *string             `json:"version,omitempty"`
	ASN                 *int                `json:"asn,omitempty"`
	BaseLatency         *float64            `json:"base_latency,omitempty"`
	BaseLatencyIPv4     *float64            `json:"base_latency_ipv4,omitempty"`
	DiagnosticVMLatency *float64            `json:"diagnostic_vm_latency,omitempty"`
	FullCheckLatency    *float64            `json:"full_check_latency,omitempty"`
	AppChecks           map[string]*float64 `json:"app_checks,omitempty"`
	AppCheckErrors      map[string]string   `json:"app_check_errors,omitempty"`
}

// ScoresPost is the content of a scores post.
type ScoresPost struct {
	Version string   `json:"version"`
	Tags    []string `json:"tags"`
	Period  Period   `json:"period"`
	Scores  Scores   `json:"scores"`
}

// Period is the window the scores were computed over (RFC 3339, UTC).
type Period struct {
	From string `json:"from_date"`
	To   string `json:"to_date"`
}

// Scores are the scores of both node kinds, each sorted by node id.
type Scores struct {
	CCN []NodeScore `json:"ccn"`
	CRN []NodeScore `json:"crn"`
}

// NodeScore is one node's score. URL is goaleph's addition: the node as
// the scorers reached it, what the gateway matches its upstreams with.
type NodeScore struct {
	NodeID           string             `json:"node_id"`
	URL              string             `json:"url,omitempty"`
	TotalScore       float64            `json:"total_score"`
	Performance      float64            `json:"performance"`
	Version          float64            `json:"version"`
	Decentralization float64            `json:"decentralization"`
	Measurements     map[string]float64 `json:"measurements"`
}
