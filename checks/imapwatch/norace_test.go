//go:build !race

package imapwatch

// hugeFieldSize is the size of the huge header fields of
// TestMailboxHugeHeadersInBulkCostABoundedFetch: 20 MB, as found in the
// wild (issue 7).
const hugeFieldSize = 20 << 20
