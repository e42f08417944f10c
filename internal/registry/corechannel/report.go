package corechannel

import (
	"encoding/json"
	"math/big"
)

// Post types of the reward reports, the reference's.
const (
	LegacyReportType = "staking-rewards-distribution"
	CreditReportType = "credit-rewards-distribution"
)

// Report is the content of a reward report post: what one day pays, in
// whole tokens as exact decimal numbers.
type Report struct {
	// Status is "calculation": the report says what is due; a payout
	// is a separate step.
	Status string `json:"status"`
	// Formula is "legacy" or "credit".
	Formula string `json:"formula"`
	// Day is the UTC day (YYYY-MM-DD); StartTime and EndTime its bounds
	// (unix seconds).
	Day         string                 `json:"day"`
	StartTime   int64                  `json:"start_time"`
	EndTime     int64                  `json:"end_time"`
	Rewards     map[string]json.Number `json:"rewards"`
	Total       json.Number            `json:"total"`
	Unallocated json.Number            `json:"unallocated"`
	Tags        []string               `json:"tags"`
}

// NewReport is the report of distribution d.
func NewReport(formula, day string, start, end int64, d Distribution) Report {
	r := Report{Status: "calculation", Formula: formula, Day: day, StartTime: start, EndTime: end,
		Rewards: map[string]json.Number{}, Total: tokenNumber(d.Total()), Unallocated: tokenNumber(d.Unallocated),
		Tags: []string{formula, "mainnet"}}
	for a, v := range d.Rewards {
		r.Rewards[a] = tokenNumber(v)
	}
	return r
}

// ReportType is the post type of a formula's report.
func ReportType(formula string) string {
	if formula == "credit" {
		return CreditReportType
	}
	return LegacyReportType
}

// units converts whole tokens to base units, for tests and callers that
// read a report back.
func units(n json.Number) *big.Int { return baseUnits(number(n)) }
