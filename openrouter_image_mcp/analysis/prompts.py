"""Every prompt the server sends, in one place, written for the job each tool does.

A review prompt is a few sentences joined: who is reviewing, what to check, where to focus,
the accessibility and heuristics instructions (or an instruction to leave them null), the
rule against inventing what the screenshot does not show, and the user's own question.
"""

from __future__ import annotations

from typing import Literal

from ..imaging import Tiling

DEFAULT_QUESTION = (
    "Describe this image in detail: its subject, notable objects and people, any visible text "
    "(quoted exactly), colours, layout, and anything unusual. Be factual; say when something "
    "is unclear rather than guessing."
)
DEFAULT_QUESTION_FOR_SEVERAL = (
    "Describe each of these images in detail, in order, then say how they differ: subjects, "
    "visible text (quoted exactly), colours and layout. Be factual; say when something is "
    "unclear rather than guessing."
)

WebpageFocus = Literal["layout", "content", "navigation", "forms", "interactive", "accessibility"]
MobileFocus = Literal[
    "ui-design", "user-experience", "navigation", "accessibility", "performance", "onboarding"
]
Platform = Literal["ios", "android", "auto"]

EVIDENCE_RULE = (
    "Report only what the screenshot shows and quote visible text exactly. When something is "
    "not visible or cannot be judged from a still image (hover effects, animation, speed, "
    "screen-reader names), use null or an empty list; never invent it. Be specific: name the "
    "element and where it is. Keep each text to one or two sentences and each list to the "
    "five most important items."
)
JSON_RULE = "Reply with a single JSON object that follows the response schema."
BALANCED = "Give a balanced review that weighs every area equally."

# --- Web page ----------------------------------------------------------------------------

WEBPAGE_ROLE = (
    "You are a senior front-end engineer and UX reviewer. Review this screenshot of a web page "
    "as you would in a design review before launch."
)
WEBPAGE_CHECKS = (
    "Check the visual hierarchy (what draws the eye first, and should it), the layout "
    "(header, navigation, main content, sidebar, footer; alignment, spacing, grouping), "
    "content clarity (headings, readable body text, clear calls to action), navigation "
    "(where am I, where can I go), forms and interactive elements (visible labels, placeholder "
    "text used as a label, required and error states, disabled controls that look enabled), "
    "and visual design (colour, typography, consistent branding)."
)
WEBPAGE_FOCUS: dict[WebpageFocus, str] = {
    "layout": (
        "Focus on layout: the grid and alignment, spacing rhythm, grouping of related items, "
        "use of the fold, and how the layout is likely to reflow on a narrow screen."
    ),
    "content": (
        "Focus on content: heading structure, scannability, tone, jargon, line length, and "
        "whether the page's purpose and main call to action are clear within five seconds."
    ),
    "navigation": (
        "Focus on navigation: the menu's structure and labels, the current-page indicator, "
        "breadcrumbs, search, and how a visitor reaches the most likely next page."
    ),
    "forms": (
        "Focus on forms: visible labels for every field, placeholder-only labels, required "
        "markers, input types, grouping, error messages next to their fields, and the submit "
        "button's wording."
    ),
    "interactive": (
        "Focus on interactive elements: whether buttons and links look clickable, how primary "
        "and secondary actions differ, visible states (selected, disabled, error), and target "
        "sizes."
    ),
    "accessibility": (
        "Focus on accessibility: go through every WCAG 2.2 point below element by element and "
        "make the accessibility issues the most detailed part of the review."
    ),
}
WEBPAGE_ACCESSIBILITY = (
    "Assess accessibility against WCAG 2.2 as far as a screenshot allows: text contrast "
    "(4.5:1 for body text, 3:1 for large text, icons and control borders), text size, target "
    "size (at least 24x24 CSS px, SC 2.5.8), visible labels on inputs and icon-only buttons, "
    "meaning carried by colour alone, and focus visibility only if a focused element is "
    "visible. Say a contrast 'looks low' rather than quoting a ratio you cannot measure."
)
WEBPAGE_NO_ACCESSIBILITY = "Do not assess accessibility: set accessibility to null."

# --- Mobile app --------------------------------------------------------------------------

MOBILE_ROLE = (
    "You are a senior mobile product designer who has shipped iOS and Android apps. Review "
    "this screenshot of one mobile app screen as you would in a design review before release."
)
MOBILE_CHECKS = (
    "Identify the screen's type and purpose, then check the visual hierarchy, colour, "
    "typography, spacing and safe-area use, the components used, the navigation pattern and "
    "whether the user can tell where they are and how to go back, how clear and dense the "
    "content is, and the interactions the UI implies (gestures, feedback, loading and empty "
    "states)."
)
PLATFORM_GUIDANCE: dict[Platform, str] = {
    "ios": (
        "The user says this is an iOS app: judge platform compliance against Apple's Human "
        "Interface Guidelines (navigation and tab bars, SF Symbols, Dynamic Type, 44x44 pt "
        "touch targets, safe areas, swipe-back navigation). Still report the platform you see."
    ),
    "android": (
        "The user says this is an Android app: judge platform compliance against Material "
        "Design 3 (top app bars, navigation bar or rail, FABs, component states, 48x48 dp "
        "touch targets, system back, edge-to-edge insets). Still report the platform you see."
    ),
    "auto": (
        "First detect the platform from visual cues (status bar, system fonts, tab bar versus "
        "Material navigation bar, back affordances), then judge compliance against Apple's "
        "Human Interface Guidelines for iOS or Material Design 3 for Android. If you cannot "
        "tell, set platform to unknown, compliance_score to null, and judge general mobile "
        "conventions."
    ),
}
MOBILE_FOCUS: dict[MobileFocus, str] = {
    "ui-design": (
        "Focus on UI design: visual hierarchy, consistency of components, colour and type "
        "systems, spacing rhythm, and polish."
    ),
    "user-experience": (
        "Focus on user experience: whether the screen's main task is obvious and quick to "
        "complete, friction, cognitive load, and what a first-time user would misunderstand."
    ),
    "navigation": (
        "Focus on navigation: the pattern used, whether the current location is clear, how to "
        "go back, reachability of key actions with one thumb, and platform conventions."
    ),
    "accessibility": (
        "Focus on accessibility: go through every accessibility point below element by "
        "element and make the accessibility issues the most detailed part of the review."
    ),
    "performance": (
        "Focus on perceived performance, as far as a still image shows it: loading indicators, "
        "skeleton screens, placeholder or missing images, heavy media, and content that "
        "appears to load late. Do not claim measured timings."
    ),
    "onboarding": (
        "Focus on onboarding: whether a new user understands the value and the next step, "
        "progress indication, skip options, permission requests in context, and how much is "
        "asked before the user gets value."
    ),
}
MOBILE_ACCESSIBILITY = (
    "Assess accessibility against WCAG 2.2 and the platform: text contrast (4.5:1, or 3:1 for "
    "large text and icons), text size and room for larger text settings, touch targets "
    "(44x44 pt on iOS, 48x48 dp on Android, never below 24x24), labels on icon-only "
    "controls, and meaning carried by colour alone."
)
NIELSEN_HEURISTICS = (
    "Visibility of system status",
    "Match between system and the real world",
    "User control and freedom",
    "Consistency and standards",
    "Error prevention",
    "Recognition rather than recall",
    "Flexibility and efficiency of use",
    "Aesthetic and minimalist design",
    "Help users recognize, diagnose, and recover from errors",
    "Help and documentation",
)
HEURISTICS = (
    "Assess the screen against Nielsen's ten usability heuristics, one short assessment each "
    "in ux_heuristics: " + "; ".join(NIELSEN_HEURISTICS) + "."
)
NO_HEURISTICS = "Do not assess Nielsen's heuristics: set ux_heuristics to null."


def general_prompt(question: str | None, images: int = 1) -> str:
    return _clean(question) or (DEFAULT_QUESTION if images == 1 else DEFAULT_QUESTION_FOR_SEVERAL)


def webpage_prompt(
    focus_area: WebpageFocus | None, include_accessibility: bool, question: str | None
) -> str:
    return _join(
        WEBPAGE_ROLE,
        WEBPAGE_CHECKS,
        WEBPAGE_FOCUS[focus_area] if focus_area else BALANCED,
        WEBPAGE_ACCESSIBILITY if include_accessibility else WEBPAGE_NO_ACCESSIBILITY,
        EVIDENCE_RULE,
        question_sentence(question),
        JSON_RULE,
    )


def mobile_prompt(
    platform: Platform,
    focus_area: MobileFocus | None,
    include_ux_heuristics: bool,
    question: str | None,
) -> str:
    return _join(
        MOBILE_ROLE,
        MOBILE_CHECKS,
        PLATFORM_GUIDANCE[platform],
        MOBILE_FOCUS[focus_area] if focus_area else BALANCED,
        MOBILE_ACCESSIBILITY,
        HEURISTICS if include_ux_heuristics else NO_HEURISTICS,
        EVIDENCE_RULE,
        question_sentence(question),
        JSON_RULE,
    )


def question_sentence(question: str | None) -> str:
    question = _clean(question)
    if not question:
        return "No question was asked: set the answer field to null."
    return (
        "The user also asks the question below; answer it directly in the answer field, "
        f"from what the screenshot shows, and let it guide the review.\nQuestion: {question}"
    )


def _clean(text: str | None) -> str:
    return (text or "").strip()


def _join(*sentences: str) -> str:
    return "\n\n".join(sentences)


# --- Several images, and tiles ------------------------------------------------------------


def image_caption(position: int, count: int, tiling: Tiling | None) -> str | None:
    """The text just before an image's parts: which of the call's images it is (when there
    are several), and that tiles are consecutive pieces of one image. None for a call's only
    image sent whole."""
    which = f"Image {position} of {count}" if count > 1 else None
    if tiling is None:
        return None if which is None else f"{which}:"
    shape = "tall" if tiling.order == "top to bottom" else "wide"
    subject = f"{which} is" if which else "The image is"
    return (
        f"{subject} {shape}, so it follows as {tiling.count} consecutive pieces, {tiling.order}, "
        f"each overlapping the next by about {tiling.overlap_px} pixels. Read the pieces as one "
        "image, and count what appears in an overlap once."
    )
