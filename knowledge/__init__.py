"""Knowledge base and rules of Ruta Emprende Atacama: pure data and functions, no channel or storage.

Typical use::

    from knowledge import diagnose, load_knowledge_base, parse_profile
    kb = load_knowledge_base()
    diagnosis = diagnose(parse_profile({"commune": "vallenar", ...}, kb), kb, date.today())
"""

from knowledge.base import KnowledgeBase
from knowledge.diagnosis import Diagnosis, diagnose
from knowledge.loader import KnowledgeBaseError, Problem, load_knowledge_base, validate_knowledge_base
from knowledge.profile import Profile, ProfileError, parse_profile

__all__ = [
    "Diagnosis",
    "KnowledgeBase",
    "KnowledgeBaseError",
    "Problem",
    "Profile",
    "ProfileError",
    "diagnose",
    "load_knowledge_base",
    "parse_profile",
    "validate_knowledge_base",
]
