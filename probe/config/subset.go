package config

import "strings"

// List returns the configured list with this address, or nil.
func (c *Config) List(address string) *ListConfig {
	if c.byAddress != nil {
		return c.byAddress[strings.ToLower(address)]
	}
	for _, l := range c.Lists {
		if strings.EqualFold(l.Address, address) {
			return l
		}
	}
	return nil
}

// index builds the lookup List uses. A Config is not changed once loaded.
func (c *Config) index() {
	c.byAddress = make(map[string]*ListConfig, len(c.Lists))
	for _, l := range c.Lists {
		c.byAddress[strings.ToLower(l.Address)] = l
	}
}

// Subset returns a copy of c with only these lists, and only the accounts
// and Mailman servers they use: a shard, or the lists `once` was asked for,
// opens no session it does not need.
func (c *Config) Subset(lists []*ListConfig) *Config {
	sub := *c
	sub.Lists = lists
	defer sub.index()
	sub.Accounts = map[string]*AccountConfig{}
	sub.Mailman = map[string]*MailmanConfig{}
	for _, l := range lists {
		for _, name := range append([]string{l.Poster, l.Moderator}, l.ReaderAccounts()...) {
			if a := c.Accounts[name]; a != nil {
				sub.Accounts[name] = a
			}
		}
		if m := c.Mailman[l.Mailman]; m != nil {
			sub.Mailman[l.Mailman] = m
		}
	}
	return &sub
}
