"""A SOAP reply read straight into dicts, typed by the WSDL's schema as zeep types it.

zeep builds an object per element and ``serialize_object`` turns them into dicts again: for a page
of 200 changes that was most of the one-stop connector's CPU (py-spy: 46% of its samples in zeep's
parse, on a machine where the whole hub competes for two cores). This walks the reply once with the
schema zeep already loaded and gives the same dicts: every declared child present (None when
absent or xsi:nil), repeated elements as lists, leaf values converted by the schema type's own
``pythonvalue`` (an unreadable value becomes None, as zeep makes it). tests/integration proves it
equal to zeep's answer over a whole simulated province.
"""

from __future__ import annotations

from typing import Any

from lxml import etree
from zeep.wsdl.bindings.soap import SoapOperation
from zeep.xsd.elements import Element
from zeep.xsd.types import ComplexType

__all__ = ["NotPlainError", "read_reply"]

_XSI_NIL = "{http://www.w3.org/2001/XMLSchema-instance}nil"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"


class NotPlainError(Exception):
    """The reply is not a plain answer (a Fault, another element, xsi:type): let zeep read it."""


def read_reply(envelope: etree._Element, operation: SoapOperation) -> Any:
    """The operation's result from a parsed reply envelope, as ``serialize_object(zeep's result, dict)``."""
    body = envelope.find(f"{{{etree.QName(envelope).namespace}}}Body")
    if body is None or len(body) != 1:
        raise NotPlainError("no single element in the SOAP body")
    wrapper = operation.output.body
    answer = body[0]
    if not isinstance(wrapper, Element) or answer.tag != wrapper.qname.text:
        raise NotPlainError(f"unexpected body element {answer.tag}")
    values = _complex(answer, wrapper.type)
    # zeep hands back the single result element's value, not the wrapper around it.
    return next(iter(values.values())) if isinstance(values, dict) and len(values) == 1 else values


def _complex(node: etree._Element, typ: Any) -> dict[str, Any] | None:
    if node.get(_XSI_NIL) in ("true", "1"):
        return None
    if not isinstance(typ, ComplexType) or typ.attributes or node.get(_XSI_TYPE) is not None:
        raise NotPlainError(f"{node.tag}: not a plain element sequence")
    children: dict[str, list[etree._Element]] = {}
    for child in node:
        if isinstance(child.tag, str):
            children.setdefault(etree.QName(child).localname, []).append(child)
    out: dict[str, Any] = {}
    for name, element in typ.elements:
        if not isinstance(element, Element):
            raise NotPlainError(f"{node.tag}: {name} is not a plain element")
        found = children.get(name, [])
        if element.max_occurs == 1:
            out[name] = _value(found[0], element) if found else None
        else:
            out[name] = [_value(child, element) for child in found]
    return out


def _value(node: etree._Element, element: Element) -> Any:
    if isinstance(element.type, ComplexType):
        return _complex(node, element.type)
    if node.get(_XSI_NIL) in ("true", "1") or node.text is None:
        return None
    try:
        return element.type.pythonvalue(node.text)
    except (TypeError, ValueError):
        return None
