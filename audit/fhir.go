package audit

import (
	"sort"
	"strings"
)

// FHIR R4 AuditEvent (http://hl7.org/fhir/R4/auditevent.html) as we write it, in the
// style of IHE Basic Audit Log Patterns (BALP): type/subtype say what happened,
// action is the CRUDE code, agents are who took part (with their network address),
// source is this instance, entities are the patient, the object and the
// transaction ids. Plain structs: we only write these, never parse them.

// Code systems used in exports.
const (
	SystemDICOM        = "http://dicom.nema.org/resources/ontology/DCM"
	SystemEventType    = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	SystemRestful      = "http://hl7.org/fhir/restful-interaction"
	SystemSourceType   = "http://terminology.hl7.org/CodeSystem/security-source-type"
	SystemEntityType   = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	SystemObjectRole   = "http://terminology.hl7.org/CodeSystem/object-role"
	SystemSecurityRole = "http://terminology.hl7.org/CodeSystem/extra-security-role-type"
	SystemBALPEntity   = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	// SystemAction names our own action codes (the closed Action list), carried as an
	// extra subtype coding so that nothing is lost in the mapping.
	SystemAction = "urn:pgo-koppelvlak:audit-action"
	// SystemCorrelation types the X-Correlation-ID entity (MedMij: one id per transfer).
	SystemCorrelation = "urn:pgo-koppelvlak:audit-entity-type"
	// SystemClientID names peers by their MedMij client id (host name, from the OCL).
	SystemClientID = "urn:pgo-koppelvlak:medmij-client-id"
	// ExtensionUserAgent carries the client's User-Agent on the requesting agent.
	ExtensionUserAgent = "urn:pgo-koppelvlak:user-agent"
)

// FHIR element types (R4), only the fields we fill.
type (
	Coding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code,omitempty"`
		Display string `json:"display,omitempty"`
	}
	CodeableConcept struct {
		Coding []Coding `json:"coding,omitempty"`
		Text   string   `json:"text,omitempty"`
	}
	Identifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value,omitempty"`
	}
	Reference struct {
		Identifier *Identifier `json:"identifier,omitempty"`
		Display    string      `json:"display,omitempty"`
	}
	Period struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
	Extension struct {
		URL         string `json:"url"`
		ValueString string `json:"valueString"`
	}
	AuditAgent struct {
		Extension []Extension      `json:"extension,omitempty"`
		Type      *CodeableConcept `json:"type,omitempty"`
		Who       *Reference       `json:"who,omitempty"`
		Name      string           `json:"name,omitempty"`
		Requestor bool             `json:"requestor"`
		Network   *AgentNetwork    `json:"network,omitempty"`
	}
	AgentNetwork struct {
		Address string `json:"address,omitempty"`
		Type    string `json:"type,omitempty"` // "2" IP address
	}
	AuditSource struct {
		Site     string    `json:"site,omitempty"`
		Observer Reference `json:"observer"`
		Type     []Coding  `json:"type,omitempty"`
	}
	AuditEntity struct {
		What        *Reference     `json:"what,omitempty"`
		Type        *Coding        `json:"type,omitempty"`
		Role        *Coding        `json:"role,omitempty"`
		Name        string         `json:"name,omitempty"`
		Description string         `json:"description,omitempty"`
		Detail      []EntityDetail `json:"detail,omitempty"`
	}
	EntityDetail struct {
		Type        string `json:"type"`
		ValueString string `json:"valueString"`
	}
	// AuditEvent is the R4 resource.
	AuditEvent struct {
		ResourceType string        `json:"resourceType"`
		ID           string        `json:"id"`
		Type         Coding        `json:"type"`
		Subtype      []Coding      `json:"subtype,omitempty"`
		Action       string        `json:"action,omitempty"`
		Period       *Period       `json:"period,omitempty"`
		Recorded     string        `json:"recorded"`
		Outcome      string        `json:"outcome"`
		OutcomeDesc  string        `json:"outcomeDesc,omitempty"`
		Agent        []AuditAgent  `json:"agent"`
		Source       AuditSource   `json:"source"`
		Entity       []AuditEntity `json:"entity,omitempty"`
	}
)

// Source describes this instance in exports (AuditEvent.source) and names the
// identifier systems of its internal ids: <URL>/id/person and <URL>/id/<object type>.
type Source struct {
	Name string // e.g. "PGO Noord"
	URL  string // public https URL of the instance
}

// mapping is the BALP-style classification of one Action.
type mapping struct {
	typ     Coding
	subtype *Coding
	action  string // C R U D E
}

var (
	dcmAuth     = Coding{SystemDICOM, "110114", "User Authentication"}
	dcmActivity = Coding{SystemDICOM, "110100", "Application Activity"}
	dcmExport   = Coding{SystemDICOM, "110106", "Export"}
	dcmImport   = Coding{SystemDICOM, "110107", "Import"}
	dcmAlert    = Coding{SystemDICOM, "110113", "Security Alert"}
	dcmAuditLog = Coding{SystemDICOM, "110101", "Audit Log Used"}
	dcmRecord   = Coding{SystemDICOM, "110110", "Patient Record"}
	rest        = Coding{SystemEventType, "rest", "Restful Operation"}
)

var mappings = map[Action]mapping{
	ActLogin:             {dcmAuth, &Coding{SystemDICOM, "110122", "Login"}, "E"},
	ActLoginFailed:       {dcmAuth, &Coding{SystemDICOM, "110122", "Login"}, "E"},
	ActMFAFailed:         {dcmAuth, &Coding{SystemDICOM, "110122", "Login"}, "E"},
	ActLockout:           {dcmAlert, nil, "E"},
	ActLogout:            {dcmAuth, &Coding{SystemDICOM, "110123", "Logout"}, "E"},
	ActConsentShown:      {dcmRecord, nil, "R"},
	ActConsentGranted:    {dcmRecord, nil, "C"},
	ActConsentDenied:     {dcmRecord, nil, "E"},
	ActCodeIssued:        {dcmActivity, nil, "C"},
	ActCodeRedeemed:      {dcmActivity, nil, "E"},
	ActCodeReplayed:      {dcmAlert, nil, "E"},
	ActTokenIssued:       {dcmActivity, nil, "C"},
	ActTokenRevoked:      {dcmActivity, nil, "D"},
	ActDocumentListed:    {rest, &Coding{SystemRestful, "search-type", "search type"}, "E"},
	ActDocumentRendered:  {dcmRecord, nil, "C"},
	ActDocumentFetched:   {rest, &Coding{SystemRestful, "read", "read"}, "R"},
	ActTransferStarted:   {dcmImport, nil, "E"},
	ActTransferCompleted: {dcmImport, nil, "C"},
	ActTransferFailed:    {dcmImport, nil, "E"},
	ActAuditViewed:       {dcmAuditLog, nil, "R"},
	ActAuditExported:     {dcmAuditLog, nil, "R"},
	ActAuditPruned:       {dcmAuditLog, nil, "D"},
	ActAccountCreated:    {dcmActivity, nil, "C"},
	ActAccountLocked:     {dcmAlert, nil, "U"},
	ActMFAEnrolled:       {dcmAuth, nil, "C"},
	ActDossierImported:   {dcmImport, nil, "C"},
	ActExportRequested:   {dcmExport, nil, "E"},
	ActExportFailed:      {dcmExport, nil, "E"},
	// consent (issue 10)
	ActAuthorizeRefused: {dcmAlert, nil, "E"},
	ActConsentWithdrawn: {dcmRecord, nil, "D"},
	ActClientAuthFailed: {dcmAuth, nil, "E"},
	ActTokenRefused:     {dcmAlert, nil, "E"},
	ActAccessRefused:    {dcmAlert, nil, "E"},
	ActAccountUnlocked:  {dcmAlert, nil, "U"},
	ActFHIRRefused:      {dcmAuth, nil, "E"},
	ActExportDeleted:    {dcmExport, nil, "D"},
	ActPasswordChanged:  {dcmAuth, nil, "U"},
}

// ToAuditEvent maps a record onto an R4 AuditEvent. outcome is "0" (success) or "4"
// (minor failure) with the reason code in outcomeDesc; recorded is when the store
// wrote it, period.start when it happened.
func ToAuditEvent(r *Record, src Source) AuditEvent {
	m, ok := mappings[r.Action]
	if !ok {
		m = mapping{typ: dcmActivity, action: "E"}
	}
	ev := AuditEvent{
		ResourceType: "AuditEvent", ID: r.ID, Type: m.typ, Action: m.action,
		Period:   &Period{Start: r.Time.UTC().Format(TimeFormat), End: r.Time.UTC().Format(TimeFormat)},
		Recorded: r.Recorded.UTC().Format(TimeFormat), Outcome: "0",
		Agent: agents(r, src),
		Source: AuditSource{
			Site:     src.URL,
			Observer: Reference{Display: src.Name},
			Type:     []Coding{{SystemSourceType, "4", "Application Server"}},
		},
		Entity: entities(r, src),
	}
	if m.subtype != nil {
		ev.Subtype = append(ev.Subtype, *m.subtype)
	}
	ev.Subtype = append(ev.Subtype, Coding{System: SystemAction, Code: string(r.Action)})
	if r.Outcome == Failure {
		ev.Outcome, ev.OutcomeDesc = "4", r.Reason
	}
	return ev
}

func (s Source) system(kind string) string {
	return strings.TrimRight(s.URL, "/") + "/id/" + kind
}

// agents: the actor (requestor) with the client's address and user agent, and this
// instance in the role it played (source = DICOM Source Role ID, target = Destination).
func agents(r *Record, src Source) []AuditAgent {
	actor := AuditAgent{
		Who:       &Reference{Identifier: &Identifier{System: src.system(string(r.ActorType)), Value: r.ActorID}},
		Requestor: true,
		Type:      &CodeableConcept{Coding: []Coding{actorRole(r.ActorType)}},
	}
	if r.UserAgent != "" {
		actor.Extension = []Extension{{URL: ExtensionUserAgent, ValueString: r.UserAgent}}
	}
	if r.ActorType == ActorPeer {
		actor.Who.Identifier.System = SystemClientID
	}
	if r.SourceIP != "" {
		actor.Network = &AgentNetwork{Address: r.SourceIP, Type: "2"}
	}
	out := []AuditAgent{actor}
	if r.ActorType != ActorSystem {
		self := AuditAgent{Who: &Reference{Display: src.Name}, Requestor: false}
		switch r.Role {
		case RoleSource:
			self.Type = &CodeableConcept{Coding: []Coding{{SystemDICOM, "110153", "Source Role ID"}}}
		case RoleTarget:
			self.Type = &CodeableConcept{Coding: []Coding{{SystemDICOM, "110152", "Destination Role ID"}}}
		}
		out = append(out, self)
	}
	return out
}

func actorRole(t ActorType) Coding {
	switch t {
	case ActorUser, ActorAuditor:
		return Coding{SystemSecurityRole, "humanuser", "human user"}
	case ActorPeer:
		return Coding{SystemDICOM, "110150", "Application"}
	}
	return Coding{SystemSecurityRole, "dataprocessor", "data processor"}
}

// entities: the patient, the object with its hashes and details, and the request and
// correlation ids (BALP "transaction" entities).
func entities(r *Record, src Source) []AuditEntity {
	var out []AuditEntity
	if r.PersonID != "" {
		out = append(out, AuditEntity{
			What: &Reference{Identifier: &Identifier{System: src.system("person"), Value: r.PersonID}},
			Type: &Coding{SystemEntityType, "1", "Person"}, Role: &Coding{SystemObjectRole, "1", "Patient"},
		})
	}
	if r.ObjectType != "" || r.ObjectID != "" || len(r.ObjectHashes) > 0 || len(r.Details) > 0 {
		e := AuditEntity{Type: &Coding{SystemEntityType, "2", "System Object"}, Name: r.ObjectType}
		if r.ObjectID != "" {
			e.What = &Reference{Identifier: &Identifier{System: src.system(objectKind(r.ObjectType)), Value: r.ObjectID}}
		}
		e.Detail = append(details(r.ObjectHashes), details(r.Details)...)
		out = append(out, e)
	}
	if r.RequestID != "" {
		out = append(out, AuditEntity{
			What: &Reference{Identifier: &Identifier{Value: r.RequestID}},
			Type: &Coding{SystemBALPEntity, "XrequestId", "X-Request-Id"},
		})
	}
	if r.CorrelationID != "" {
		out = append(out, AuditEntity{
			What: &Reference{Identifier: &Identifier{Value: r.CorrelationID}},
			Type: &Coding{SystemCorrelation, "XcorrelationId", "X-Correlation-ID"},
		})
	}
	return out
}

func objectKind(t string) string {
	if t == "" {
		return "object"
	}
	return t
}

func details(m map[string]string) []EntityDetail {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]EntityDetail, 0, len(keys))
	for _, k := range keys {
		out = append(out, EntityDetail{Type: k, ValueString: m[k]})
	}
	return out
}
