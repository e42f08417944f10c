// Package scoring is the quality control of the network (spec network.md
// §2, design note 0021): every core node that enables it probes the
// compute nodes and the core nodes with the reference's checks and with
// the app-defined checks of the programs they serve, publishes what it
// measured as a signed "aleph-network-metrics" post, and computes the
// nodes' scores from every trusted scorer's measurements: the reference's
// formulas per scorer, then the median over scorers, so that a minority
// of lying scorers cannot move a score. The scores are published as
// "aleph-scoring-scores" posts in the reference's format.
package scoring
