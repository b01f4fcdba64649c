// Package rules is kafkadial's rule language: it parses rule text, finds
// the rule that takes an address, and reports rules that can never match.
// It makes no connection and has no dependency beyond the standard
// library; package dialer dials what it decides.
//
//	rs, errs := rules.Parse("rules.txt", "kafka-{id}:29092 => 127.0.0.1:1909{id}")
//	if len(errs) > 0 {
//		log.Fatal(errs[0]) // rules.txt:1:20: ...
//	}
//	r, target, err := rules.NewTable(rs).Lookup("kafka-3:29092")
//	// r.Source() == "rules.txt:1", target == "127.0.0.1:19093"
//
// # Grammar
//
// A rule is a match, an optional "=>", a target and an optional via list:
//
//	kafka-3:39092             => 127.0.0.1:39094          # exact host:port
//	kafka-*                   => 127.0.0.1                # target without port: the port is kept
//	kafka-{id}:29092          => 127.0.0.1:1909{id}       # {name} captures part of one label
//	*.kafka.internal:9092     => lb.internal:{port+1000}  # + and - on numeric captures; {host} and {port} always exist
//	198.18.0.0/16             => 127.0.0.1                # CIDR; IPv6 as [fd00::]/8, [::1]:9092
//	~^b-(\d+)\.msk\.local:9092$ => 127.0.0.1:1909$1       # ~ starts a Go regexp over host:port; $1, ${name}
//	*.internal:9092           => =    via jump            # = keeps the address; via names hops
//	"_{HOSTNAME_COMMAND}":9092 => 127.0.0.1:19092         # a quoted host is literal
//
// A newline or ';' ends a rule. A '#' where a word would start begins a
// comment ("a:1 => b:2 # note"; in "b:2#note" it is part of the word).
// Words are separated by spaces or tabs.
//
// Match. A host, optionally followed by ":port":
//   - A host without wildcards matches exactly. Hosts compare case
//     insensitively, with a trailing dot ignored; IP addresses compare in
//     canonical form (an IPv4-mapped IPv6 address as IPv4). IPv6 is written
//     in brackets: [fd00::1]:9092.
//   - '*' matches any run of characters except ':' (possibly empty), and
//     {name} a non-empty part of one label (no '.' or ':'), which the
//     target can use. At most 8 wildcards; {host} and {port} are
//     predefined and cannot be captured.
//   - ADDR/BITS is a CIDR prefix ([fd00::]/8 for IPv6).
//   - ~REGEXP is a Go regular expression (RE2) matched against
//     "host:port" (host canonical, IPv6 in brackets); the target uses its
//     groups as $1, ${1}, $name or ${name}, and $$ for '$'. A regexp
//     cannot hold white space or ';', nor start with '#': write \s, \x3b,
//     \x23.
//   - "HOST" in double quotes is a literal host: no character inside is
//     special, so '{', '}', '*', '~' and '=' match only themselves (hosts
//     taken from configuration files, such as an unexpanded
//     _{HOSTNAME_COMMAND}). A quoted host cannot hold '"', ':', '[', ']',
//     white space, ';' or control characters. QuoteHost writes one.
//   - The port is a number from 1 to 65535, '*' (any port, as when it is
//     left out), or {name} to capture it.
//
// Target. "=" dials the address as asked (useful with via). Otherwise a
// host, optionally with ":port"; without a port the port asked for is
// kept. The target may use {host}, {port}, the match's captures, and
// numeric arithmetic {name+N} / {name-N}; ~regexp rules use $1 and ${name}.
// A quoted target host ("c{d}":9092) is literal. A port that a target
// computes must come out from 1 to 65535, or the dial fails with an error
// naming the rule.
//
// Via. "via HOP[,HOP...]" dials the target through hops, first hop
// first: a name registered in code (dialer.WithVia), which can only come
// first, or a URL such as ssh://user@bastion, socks5://127.0.0.1:1080,
// socks5h://..., http://proxy:3128 (see package hop and
// dialer.WithScheme). Rules that write the same chain share its hops.
//
// # Precedence
//
// The first rule that matches, in written order, wins, whatever its kind;
// sources keep the order in which they are given. A Table indexes exact
// hosts, CIDR prefixes and the literal ends of wildcard patterns, so a
// lookup costs about the same with ten rules or a hundred thousand, and
// allocates nothing unless the target is built from captures.
//
// Shadowed reports rules that an earlier rule makes unreachable; dialer.Check
// adds syntax errors and hops that cannot be built, all as Findings in
// "file:line:col: message" form.
//
// # Errors
//
// Parse reports each problem as an *Error with the source, the 1-based line
// and the byte column where it is, and what was expected:
//
//	rules.txt:4:28: {id} is not captured by the match (known: {host}, {port})
//
// Messages quote input with %q, so they never carry raw control bytes.
package rules
