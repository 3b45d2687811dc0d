package zal

import (
	"bytes"
	"encoding/xml"
	"strconv"
	"time"
)

// xw writes indented XML with escaped text; the lists have no attributes besides
// the root namespace, so this is all the writers need.
type xw struct {
	b     bytes.Buffer
	depth int
}

func newXW(root, ns string) *xw {
	w := &xw{}
	w.b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	w.b.WriteString("<" + root + ` xmlns="`)
	_ = xml.EscapeText(&w.b, []byte(ns))
	w.b.WriteString("\">\n")
	w.depth = 1
	return w
}

func (w *xw) indent() {
	for i := 0; i < w.depth; i++ {
		w.b.WriteString("  ")
	}
}

func (w *xw) open(name string) { w.indent(); w.b.WriteString("<" + name + ">\n"); w.depth++ }

func (w *xw) close(name string) { w.depth--; w.indent(); w.b.WriteString("</" + name + ">\n") }

func (w *xw) leaf(name, value string) {
	w.indent()
	w.b.WriteString("<" + name + ">")
	_ = xml.EscapeText(&w.b, []byte(value))
	w.b.WriteString("</" + name + ">\n")
}

func (w *xw) header(h Header) {
	ts := h.Tijdstempel
	if ts.IsZero() {
		ts = time.Now()
	}
	w.leaf("Tijdstempel", ts.UTC().Format("2006-01-02T15:04:05Z"))
	w.leaf("Volgnummer", strconv.FormatInt(h.Volgnummer, 10))
}

func (w *xw) done(root string) []byte {
	w.depth = 0
	w.b.WriteString("</" + root + ">\n")
	return w.b.Bytes()
}

// MarshalZAL writes z as a release3 Zorgaanbiederslijst (Tijdstempel and Volgnummer
// from z.Header; a zero Tijdstempel means now).
func MarshalZAL(z *ZAL) []byte {
	w := newXW("Zorgaanbiederslijst", NamespaceZAL3)
	w.header(z.Header)
	w.open("Zorgaanbieders")
	for _, p := range z.Providers {
		w.open("Zorgaanbieder")
		w.leaf("Zorgaanbiedernaam", p.Name)
		w.leaf("Aanbiedertype", p.Type)
		w.open("Interfaceversies")
		for _, v := range p.Versions {
			w.open("Interfaceversie")
			w.leaf("InterfaceversieId", v.ID)
			w.open("Gegevensdiensten")
			for _, s := range v.Services {
				w.service(s)
			}
			w.close("Gegevensdiensten")
			w.close("Interfaceversie")
		}
		w.close("Interfaceversies")
		w.close("Zorgaanbieder")
	}
	w.close("Zorgaanbieders")
	return w.done("Zorgaanbiederslijst")
}

func (w *xw) service(s Service) {
	w.open("Gegevensdienst")
	w.leaf("GegevensdienstId", s.ID)
	w.open("AuthorizationEndpoint")
	w.leaf("AuthorizationEndpointuri", s.AuthorizationURI)
	w.close("AuthorizationEndpoint")
	w.open("TokenEndpoint")
	w.leaf("TokenEndpointuri", s.TokenURI)
	w.close("TokenEndpoint")
	if s.Subscription != nil {
		w.open("Abonneren")
		w.leaf("MaximaleDuur", s.Subscription.MaxDuration)
		w.leaf("SubscriptionEndpointuri", s.Subscription.URI)
		w.close("Abonneren")
	}
	w.open("Systeemrollen")
	for _, r := range s.Roles {
		w.open("Systeemrol")
		w.leaf("Systeemrolcode", r.Code)
		w.open("ResourceEndpoint")
		w.leaf("ResourceEndpointuri", r.ResourceURI)
		w.close("ResourceEndpoint")
		w.close("Systeemrol")
	}
	w.close("Systeemrollen")
	w.close("Gegevensdienst")
}

// MarshalOCL writes o as an OAuthclientlist; the Gegevensdiensten element is
// written only for clients that have some.
func MarshalOCL(o *OCL) []byte {
	w := newXW("OAuthclientlist", NamespaceOCL)
	w.header(o.Header)
	w.open("OAuthclients")
	for _, c := range o.Clients {
		w.open("OAuthclient")
		w.leaf("Hostname", c.Hostname)
		w.leaf("OAuthclientOrganisatienaam", c.Organisation)
		if len(c.Gegevensdiensten) > 0 {
			w.open("Gegevensdiensten")
			for _, g := range c.Gegevensdiensten {
				w.open("Gegevensdienst")
				w.leaf("GegevensdienstId", g)
				w.close("Gegevensdienst")
			}
			w.close("Gegevensdiensten")
		}
		w.close("OAuthclient")
	}
	w.close("OAuthclients")
	return w.done("OAuthclientlist")
}

// MarshalGNL writes g as a Gegevensdienstnamenlijst, ids in g.IDs order.
func MarshalGNL(g *GNL) []byte {
	w := newXW("Gegevensdienstnamenlijst", NamespaceGNL)
	w.header(g.Header)
	w.open("Gegevensdiensten")
	for _, id := range g.IDs {
		w.open("Gegevensdienst")
		w.leaf("GegevensdienstId", id)
		w.leaf("Weergavenaam", g.Names[id])
		w.close("Gegevensdienst")
	}
	w.close("Gegevensdiensten")
	return w.done("Gegevensdienstnamenlijst")
}

// MarshalWhitelist writes l as a Whitelist.
func MarshalWhitelist(l *Whitelist) []byte {
	w := newXW("Whitelist", NamespaceWhitelist)
	w.header(l.Header)
	w.open("MedMijNodes")
	for _, h := range l.Hosts {
		w.leaf("MedMijNode", h)
	}
	w.close("MedMijNodes")
	return w.done("Whitelist")
}
