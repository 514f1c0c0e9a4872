"""Which IV-iron product a medication is: by code first, then by name.

Used for draft orders and for the patient's history (administrations,
allergies, adverse events), so both read a product the same way. The lookup
tables are built once per ``Knowledge`` object and reused for every call.
"""

from __future__ import annotations

from dataclasses import dataclass

from cds_service.engine.compiled import per_knowledge
from cds_service.engine.fhir_values import codings, concept_texts, normalize_text, phrase_key, system_kind
from cds_service.engine.markdown import markdown_text


@dataclass(frozen=True)
class Identity:
    """What a medication turned out to be."""

    product_key: str | None      # None: IV iron as a class (ATC B03AC, "IV iron") without a product
    matched_by: str              # "code", "name" or "class"
    matched_on: str              # what matched, for messages ("RxNorm 1435169 (SCD)", "name 'Venofer'")
    oral: bool                   # an oral form or oral iron name was seen (oral iron never gets a card)
    injectable_code: bool = False  # matched by a code that only names an injectable (RxNorm SCD/SBD/BN..., NDC)
    injectable_name: bool = False  # its text names it by a name that exists only as an injection (products.yaml
                                   # injection_only_names: "Venofer", "iron sucrose"; not "iron-dextran complex")

    @property
    def injectable(self) -> bool:
        """The medication is the injectable product: a code says so, or an injection-only name does and no oral
        word is seen ("Venofer tablet" stays oral). An ingredient code alone does not: it also sits in tablets."""
        return self.injectable_code or (self.injectable_name and not self.oral)


def ndc_keys(code: str) -> set[str]:
    """Candidate 9-digit labeler+product keys (5+4 digits) of an NDC written with or without dashes.

    A 10-digit NDC without dashes is ambiguous (4-4-2, 5-3-2 or 5-4-1); every
    reading is returned and the caller keeps a match only if it is unique.
    """
    code = code.strip().replace(" ", "")
    if "-" in code:
        parts = code.split("-")
        labeler, product = parts[0].zfill(5), parts[1].zfill(4) if len(parts) > 1 else ""
        key = labeler + product
        return {key} if len(labeler) == 5 and len(product) == 4 and key.isdigit() else set()
    if not code.isdigit():
        return set()
    if len(code) == 11:
        return {code[:9]}
    if len(code) == 10:
        return {"0" + code[:8], code[:5] + "0" + code[5:8], code[:9]}
    if len(code) == 9:
        return {code}
    if len(code) == 8:
        return {"0" + code, code[:5] + "0" + code[5:]}
    return set()


_REMEMBERED = 4096   # distinct medications remembered per process (a few bytes of text each)


def _concept_key(concept: object) -> object:
    """Everything ``ProductMatcher._identify`` reads of a concept, as a dict key. Values it ignores (a number
    where a code belongs) may make two keys differ, never two readings equal."""
    if not isinstance(concept, dict):
        return concept
    coding = concept.get("coding")
    return (concept.get("text"), tuple((c.get("code"), c.get("system"), c.get("display")) if isinstance(c, dict)
                                       else None for c in coding) if isinstance(coding, list) else None)


class ProductMatcher:
    """Code and name indexes of the knowledge products."""

    def __init__(self, knowledge) -> None:
        self.rxnorm: dict[str, tuple[str, str]] = {}
        self.ndc: dict[str, str] = {}
        self.unii: dict[str, str] = {}
        self.atc_exact: dict[str, str] = {}
        self.atc_prefixes = tuple(p.upper() for p in knowledge.iv_iron_atc_prefixes)
        self.names: list[tuple[str, str, str]] = []   # (padded phrase, product key, name as written)
        atc_owners: dict[str, set[str]] = {}
        for key, product in knowledge.products.items():
            for code, tty in product.rxnorm.items():
                self.rxnorm[code] = (key, tty)
            for ndc in product.ndc:
                for nk in ndc_keys(ndc):
                    self.ndc[nk] = key
            for unii in product.unii:
                self.unii[unii.upper()] = key
            for atc in product.atc:
                atc_owners.setdefault(atc.upper(), set()).add(key)
            for name in {product.display, *product.brands, *product.names}:
                if isinstance(name, str) and name.strip():
                    self.names.append((phrase_key(name), key, name))
        # Only a full ATC code owned by one product names it; group codes (B03AC) only say "IV iron".
        self.atc_exact = {code: next(iter(keys)) for code, keys in atc_owners.items()
                          if len(keys) == 1 and len(code) == 7}
        # Longer names first, so "iron dextran" wins over a shorter synonym inside it.
        self.names.sort(key=lambda item: -len(item[0]))
        # Phrases naming IV iron as a class ("iv iron"), from codes.iv_iron_class_names.
        spec = knowledge.codes.get("iv_iron_class_names") if isinstance(knowledge.codes, dict) else None
        names = spec.get("names") if isinstance(spec, dict) else None
        self.class_keys = tuple(phrase_key(n) for n in names or () if isinstance(n, str) and n.strip())
        self.oral_keys = tuple(phrase_key(n) for n in knowledge.oral_iron_names)
        # Per product, its names longest first, each marked when it exists only as an injection: a longer name
        # not so marked ("iron-dextran complex", also in an oral tablet) hides a marked one inside it.
        self.injection_names: dict[str, tuple[tuple[str, bool], ...]] = {}
        for key, product in knowledge.products.items():
            listed = product.injection_only_names.value if product.injection_only_names is not None else ()
            only = {phrase_key(n) for n in listed if isinstance(n, str)}
            if not only:
                continue
            phrases = {phrase_key(n) for n in {product.display, *product.brands, *product.names}
                       if isinstance(n, str) and n.strip()} | only
            self.injection_names[key] = tuple(sorted(((p, p in only) for p in phrases), key=lambda i: -len(i[0])))
        self._identified: dict[tuple, Identity | None] = {}   # see identify

    # -- codes -------------------------------------------------------------
    def _by_code(self, concept: dict) -> tuple[set[str], list[str], bool, bool]:
        """(product keys, what matched, IV-iron class seen, an injectable-only code seen) from one concept."""
        keys: set[str] = set()
        found: list[str] = []
        is_class = False
        injectable = False
        for coding in codings(concept):
            code = coding.get("code")
            if not isinstance(code, str) or not code.strip():
                continue
            code = code.strip()
            kind = system_kind(coding.get("system"))
            if kind == "rxnorm" and code in self.rxnorm:
                key, tty = self.rxnorm[code]
                keys.add(key)
                found.append(f"RxNorm {code} ({tty})")
                # an ingredient (IN) also sits in oral products (iron-dextran complex 5992); other TTYs do not
                injectable = injectable or tty.upper() not in ("IN", "PIN", "MIN")
            elif kind == "ndc":
                matches = {self.ndc[k] for k in ndc_keys(code) if k in self.ndc}
                if len(matches) == 1:
                    keys |= matches
                    found.append(f"NDC {markdown_text(code)}")
                    injectable = True
            elif kind == "unii" and code.upper() in self.unii:
                keys.add(self.unii[code.upper()])
                found.append(f"UNII {code}")
            elif kind == "atc":
                upper = code.upper()
                if upper in self.atc_exact:
                    keys.add(self.atc_exact[upper])
                    found.append(f"ATC {code}")
                elif upper.startswith(self.atc_prefixes) if self.atc_prefixes else False:
                    is_class = True
                    found.append(f"ATC {markdown_text(code)}")   # the EHR's code: only its prefix is ours
        return keys, found, is_class, injectable

    # -- names -------------------------------------------------------------
    def _by_name(self, padded_texts: list[str]) -> tuple[set[str], list[str]]:
        keys: set[str] = set()
        found: list[str] = []
        for text in padded_texts:
            for phrase, key, name in self.names:
                if phrase in text and key not in keys:
                    keys.add(key)
                    found.append(f"name '{name}'")
        return keys, found

    def _injection_named(self, key: str | None, padded_texts: list[str]) -> bool:
        """Whether a text names product ``key`` by a name that exists only as an injection."""
        names = self.injection_names.get(key) if key is not None else None
        if not names:
            return False
        for text in padded_texts:
            for phrase, only in names:
                if phrase not in text:
                    continue
                if only:
                    return True
                text = text.replace(phrase, "  ")   # a longer name that is not injection-only hides what it holds
        return False

    def identify(self, concepts: list[dict], extra_texts: list[str] = (),
                 form_concepts: list[dict] = ()) -> Identity | None:
        """Identify the product from code-bearing concepts and free text; None when it is not IV iron.

        ``concepts``: medication code concepts (CodeableConcept of the order or
        Medication.code and its ingredient items); ``extra_texts``: other names
        (reference display); ``form_concepts``: dose forms, read for oral forms only.

        A record names the same few medications again and again (every earlier infusion, every call), so the
        answer is remembered by what it is read from: ``_identify`` reads a concept's text and its codings'
        code, system and display, and nothing else.
        """
        try:
            key = (tuple(map(_concept_key, concepts)), tuple(extra_texts), tuple(map(_concept_key, form_concepts)))
            return self._identified[key]
        except KeyError:
            pass
        except TypeError:   # a value that cannot be a key (a list where a text belongs): read it every time
            return self._identify(concepts, extra_texts, form_concepts)
        if len(self._identified) >= _REMEMBERED:
            self._identified.clear()
        found = self._identified[key] = self._identify(concepts, extra_texts, form_concepts)
        return found

    def _identify(self, concepts: list[dict], extra_texts: list[str] = (),
                  form_concepts: list[dict] = ()) -> Identity | None:
        code_keys: set[str] = set()
        code_found: list[str] = []
        is_class = injectable = False
        texts: list[str] = list(t for t in extra_texts if isinstance(t, str))
        for concept in concepts:
            keys, found, cls, inj = self._by_code(concept)
            code_keys |= keys
            code_found += found
            is_class = is_class or cls
            injectable = injectable or inj
            texts += concept_texts(concept)
        padded = [normalize_text(t) for t in texts]
        form_padded = [normalize_text(t) for c in form_concepts for t in concept_texts(c)]
        oral = any(k in t for t in padded + form_padded for k in self.oral_keys)
        if len(code_keys) == 1:
            key = next(iter(code_keys))
            return Identity(key, "code", ", ".join(code_found), oral, injectable,
                            self._injection_named(key, padded))
        name_keys, name_found = self._by_name(padded)
        if len(code_keys) > 1:
            # Codes of several products in one medication: let the name decide, else keep the class only.
            narrowed = code_keys & name_keys
            if len(narrowed) == 1:
                key = next(iter(narrowed))
                return Identity(key, "code", ", ".join(code_found), oral, injectable,
                                self._injection_named(key, padded))
            return Identity(None, "class", ", ".join(code_found), oral)
        if len(name_keys) == 1:
            key = next(iter(name_keys))
            return Identity(key, "name", ", ".join(name_found), oral, False, self._injection_named(key, padded))
        if len(name_keys) > 1:
            return Identity(None, "class", ", ".join(name_found), oral)
        if is_class:
            return Identity(None, "class", ", ".join(code_found), oral)
        for text in padded:
            for phrase in self.class_keys:
                if phrase in text:
                    return Identity(None, "class", f"text '{phrase.strip()}'", oral)
        return None

    def names_in(self, text: str) -> set[str]:
        """Product keys named in free text (used to link history records to a product)."""
        return self._by_name([normalize_text(text)])[0]

    def class_in(self, text: str) -> bool:
        padded = normalize_text(text)
        return any(phrase in padded for phrase in self.class_keys)




matcher_for = per_knowledge(ProductMatcher)
