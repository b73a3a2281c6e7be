package ipam

import (
	"encoding/binary"
	"net/netip"
)

// hostRange is the first and last assignable address of p and how many
// there are: NetBox's rule, every address of the prefix except, for an
// IPv4 prefix shorter than /31, its network and broadcast addresses
// (RFC 3021 makes both of a /31 usable).
func hostRange(p netip.Prefix) (first, last netip.Addr, n uint64) {
	p = p.Masked()
	first = p.Addr()
	last = lastAddr(p)
	hostBits := 32 - p.Bits()
	n = uint64(1) << hostBits
	if hostBits >= 2 {
		first, last, n = first.Next(), last.Prev(), n-2
	}
	return first, last, n
}

// lastAddr is the highest address of an IPv4 prefix.
func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(a[:]) | uint32(uint64(1)<<(32-p.Bits())-1)
	binary.BigEndian.PutUint32(a[:], v)
	return netip.AddrFrom4(a)
}

// halves splits an IPv4 prefix into its two children one bit longer.
func halves(p netip.Prefix) (lo, hi netip.Prefix) {
	lo = netip.PrefixFrom(p.Addr(), p.Bits()+1)
	hi = netip.PrefixFrom(lastAddr(lo).Next(), p.Bits()+1)
	return lo, hi
}

// freeBlocks returns the largest aligned blocks of parent that overlap none
// of used, in address order: NetBox's available-prefixes. used may hold
// prefixes outside parent; those containing parent are its parents, not
// its children, and are not counted.
func freeBlocks(parent netip.Prefix, used []netip.Prefix) []netip.Prefix {
	parent = parent.Masked()
	var inside []netip.Prefix
	for _, u := range used {
		if u.Bits() > parent.Bits() && parent.Overlaps(u) {
			inside = append(inside, u.Masked())
		}
	}
	return appendFree(nil, parent, inside)
}

func appendFree(out []netip.Prefix, b netip.Prefix, used []netip.Prefix) []netip.Prefix {
	overlaps := false
	for _, u := range used {
		if u.Bits() <= b.Bits() && u.Contains(b.Addr()) {
			return out // b lies inside a used prefix
		}
		if b.Overlaps(u) {
			overlaps = true
		}
	}
	if !overlaps {
		return append(out, b)
	}
	lo, hi := halves(b)
	return appendFree(appendFree(out, lo, used), hi, used)
}

// firstFit is the lowest block of length bits inside one of free (in
// address order), NetBox's choice for a new child prefix.
func firstFit(free []netip.Prefix, bits int) (netip.Prefix, bool) {
	for _, f := range free {
		if f.Bits() <= bits {
			return netip.PrefixFrom(f.Addr(), bits), true
		}
	}
	return netip.Prefix{}, false
}
