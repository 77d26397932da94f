from django import template

from .. import selectors

register = template.Library()


@register.simple_tag
def has_blocked(viewer, person) -> bool:
    """Has the signed-in viewer blocked this person? (for the profile's Block/Unblock button)"""
    if viewer is None or not viewer.is_authenticated:
        return False
    return selectors.has_blocked(viewer, person)
