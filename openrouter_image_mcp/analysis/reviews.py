"""The structured reviews the two specialist tools return, as pydantic models.

Each model is both the JSON schema sent to the model (strict `json_schema` response format)
and the validator of its answer, and its schema is the tool's published `outputSchema`.
Strict mode needs every field required and no extra keys, so no field has a default and
"not visible" is spelled `null` or `[]`. Field descriptions are guidance the model reads.

A review part the caller switched off (accessibility, Nielsen's heuristics) is nullable in
the published model; the model actually requested is a subclass that narrows the field to
either the part itself or `null`, so the model can neither skip a requested part nor spend
tokens on one nobody asked for, and every answer still fits the published schema.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, TypeVar, cast, get_args

from pydantic import BaseModel, ConfigDict, Field, create_model

Score = Annotated[int, Field(ge=1, le=10)]

# Every field says what the image shows or admits it cannot: kept short, they repeat a lot.
UNSEEN = "null if not shown"
NONE_SEEN = "[] if none shown"
NOT_REQUESTED = "Not requested: always null."


def seen(description: str) -> Any:
    """A required text field the model fills from the screenshot, or sets to null."""
    return Field(description=f"{description}; {UNSEEN}.")


def listed(description: str) -> Any:
    """A required list the model fills from the screenshot, or leaves empty."""
    return Field(description=f"{description}; {NONE_SEEN}.")


def heuristic(name: str) -> Any:
    return Field(
        description=f"Nielsen's '{name}': short assessment; null if this screen gives no evidence."
    )


def answer_to_question() -> Any:
    return Field(description="The direct answer to the user's question; null if none was asked.")


class StrictModel(BaseModel):
    """A part of a structured answer: every field required, unknown keys rejected."""

    model_config = ConfigDict(extra="forbid")


class AccessibilityReview(StrictModel):
    """Accessibility as far as a still screenshot can show it (WCAG 2.2)."""

    score: Score = Field(
        description="1 (unusable for many people) to 10 (no visible accessibility problems)."
    )
    issues: list[str] = listed(
        "Concrete problems with the element and the WCAG 2.2 criterion, e.g. 'grey 12px "
        "footer text on white looks below 4.5:1 contrast (1.4.3)'"
    )
    positive_aspects: list[str] = listed("Accessibility done well, each naming the element")


class UsabilityReview(StrictModel):
    """How easy the screen is to use, with what to change first."""

    strengths: list[str] = listed("What works well for users, each naming the element")
    issues: list[str] = listed("Usability problems, most severe first")
    recommendations: list[str] = listed(
        "Specific, actionable changes, most valuable first, each tied to an issue"
    )


# --- Web page ----------------------------------------------------------------------------


class PageLayout(StrictModel):
    """The page's regions, each described briefly."""

    header: str | None = seen("The header: logo, utilities, search")
    navigation: str | None = seen("The main navigation: type (top bar, menu, tabs) and items")
    main_content: str | None = seen("The main content area: structure and what it presents")
    sidebar: str | None = seen("A sidebar and what it holds")
    footer: str | None = seen("The footer and what it holds")


class PageContent(StrictModel):
    """What the page says."""

    headings: list[str] = listed("Visible headings, quoted exactly, in reading order")
    body_text: str | None = seen("A short summary of the main body text")
    key_elements: list[str] = listed(
        "Important non-heading elements: hero, calls to action, prices, images, notices"
    )


class InteractiveElements(StrictModel):
    """Controls a user can act on, each given by its visible label and position."""

    buttons: list[str] = listed("Buttons, e.g. 'Sign up (primary, top right)'")
    links: list[str] = listed("Notable links, by visible text")
    forms: list[str] = listed(
        "Forms with their fields, labels and visible states (error, disabled, required)"
    )


class VisualDesign(StrictModel):
    color_scheme: str | None = seen("Main colours and how they are used")
    typography: str | None = seen("Typefaces, sizes and the type hierarchy")
    branding: str | None = seen("Logo, brand colours and how consistently they appear")


class WebpageReview(StrictModel):
    """A web page screenshot review: only what it shows, else null or [], never invented."""

    page_title: str | None = seen("The page title as shown (tab, header or main heading)")
    url: str | None = seen("The URL exactly as shown in an address bar")
    layout: PageLayout
    content: PageContent
    interactive_elements: InteractiveElements
    design: VisualDesign
    accessibility: AccessibilityReview | None = Field(
        description="The accessibility review; null only when it was not requested."
    )
    usability: UsabilityReview
    technical_notes: str | None = seen(
        "Front-end observations: responsive behaviour hints, rendering glitches, broken "
        "images, cookie banners covering content"
    )
    answer: str | None = answer_to_question()


# --- Mobile app --------------------------------------------------------------------------


class UiDesign(StrictModel):
    visual_hierarchy: str | None = seen("What draws the eye first and whether that fits the task")
    color_scheme: str | None = seen("Colours, contrast between them, light or dark theme")
    typography: str | None = seen("Type sizes, weights and hierarchy")
    spacing_and_layout: str | None = seen("Margins, grid, alignment and safe-area use")
    components: list[str] = listed(
        "Visible UI components by platform name, e.g. 'tab bar', 'FAB', 'bottom sheet'"
    )


class AppNavigation(StrictModel):
    pattern: str | None = seen("The navigation pattern: tab bar, navigation bar, drawer, ...")
    ease_of_use: str | None = seen("Whether users can tell where they are and how to go back")
    platform_compliance: str | None = seen("How well navigation follows the platform's conventions")


class AppContent(StrictModel):
    organization: str | None = seen("How content is grouped and ordered")
    clarity: str | None = seen("Whether labels and text are clear and unambiguous")
    density: str | None = seen("Whether the screen is too sparse, balanced or too dense")


class Interactions(StrictModel):
    """Interaction design as implied by a still image (affordances, not observed behaviour)."""

    gestures: str | None = seen("Gestures the UI suggests: swipe hints, pull to refresh")
    feedback: str | None = seen("Visible feedback: selected, pressed, error, success states")
    responsiveness: str | None = seen(
        "Signs of loading handling: spinners, skeletons, placeholders"
    )


class PlatformGuidelines(StrictModel):
    """Compliance with Apple's Human Interface Guidelines or Material Design 3."""

    compliance_score: Score | None = Field(
        description=(
            "1 (ignores the platform's guidelines) to 10 (exemplary); null when the platform "
            "is unknown."
        )
    )
    violations: list[str] = listed("Guideline violations, each naming the guideline")
    best_practices: list[str] = listed("Guidelines followed well")


class NielsenHeuristics(StrictModel):
    """Nielsen's ten usability heuristics; each a short assessment, or null without evidence."""

    visibility_of_system_status: str | None = heuristic("Visibility of system status")
    match_between_system_and_real_world: str | None = heuristic(
        "Match between system and the real world"
    )
    user_control_and_freedom: str | None = heuristic("User control and freedom")
    consistency_and_standards: str | None = heuristic("Consistency and standards")
    error_prevention: str | None = heuristic("Error prevention")
    recognition_rather_than_recall: str | None = heuristic("Recognition rather than recall")
    flexibility_and_efficiency_of_use: str | None = heuristic("Flexibility and efficiency of use")
    aesthetic_and_minimalist_design: str | None = heuristic("Aesthetic and minimalist design")
    help_users_recognize_diagnose_and_recover_from_errors: str | None = heuristic(
        "Help users recognize, diagnose, and recover from errors"
    )
    help_and_documentation: str | None = heuristic("Help and documentation")


class MobileAppReview(StrictModel):
    """A mobile app screenshot review: only what it shows, else null or [], never invented."""

    app_name: str | None = seen("The app's name as shown")
    platform: Literal["ios", "android", "unknown"] = Field(
        description="The platform detected from the screenshot; unknown when it cannot be told."
    )
    screen_type: str | None = seen("The kind of screen: login, feed, detail, settings, ...")
    ui_design: UiDesign
    navigation: AppNavigation
    content: AppContent
    interactions: Interactions
    platform_guidelines: PlatformGuidelines
    accessibility: AccessibilityReview
    ux_heuristics: NielsenHeuristics | None = Field(
        description="Nielsen's ten heuristics; null only when they were not requested."
    )
    usability: UsabilityReview
    technical_notes: str | None = seen(
        "Implementation observations: framework hints, rendering glitches, truncated text"
    )
    answer: str | None = answer_to_question()


# --- The model to request ----------------------------------------------------------------

ReviewT = TypeVar("ReviewT", bound=BaseModel)


@functools.cache
def requested_model(published: type[ReviewT], part: str, included: bool) -> type[ReviewT]:
    """`published` with its nullable `part` narrowed: the part itself when included, else null.

    The answer to the narrowed model still validates against `published`'s schema.
    """
    nullable = published.model_fields[part].annotation
    part_model = next(arg for arg in get_args(nullable) if arg is not type(None))
    # A field without a description takes the part model's own in the schema.
    narrowed = (part_model, Field()) if included else (None, Field(description=NOT_REQUESTED))
    name = f"{published.__name__}{'With' if included else 'Without'}{_pascal(part)}"
    return cast(type[ReviewT], create_model(name, __base__=published, **{part: narrowed}))


def _pascal(snake: str) -> str:
    return "".join(word.capitalize() for word in snake.split("_"))
