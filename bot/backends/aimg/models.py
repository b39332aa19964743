"""AIMG's wire shapes (docs/backends/aimg.md). Field aliases are the service's own spelling, which
mixes camelCase, ID and snake_case; a field the service may leave out has a default."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from bot.domain import TaskSnapshot

MediaType = Literal["image", "video"]
#: The job parameter that makes a generation a workflow run: the template's name.
WORKFLOW_PARAM = "workflow_template_name"
#: enqueueWorkflow's explicit body fields and the template parameter each one stands for (the
#: seed: "Corresponds to passing the Positive Prompt parameter"…). A template that lacks the
#: parameter does not take the field.
WORKFLOW_FIELDS: dict[str, str] = {
    "prompt": "Positive Prompt",
    "negprompt": "Negative Prompt",
    "seed": "Seed",
    "subseed": "Subseed",
    "subseed_strength": "Subseed Strength",
    "steps": "Steps",
    "cfgscale": "CFG Scale",
    "modelName": "Model",
    "height": "Height",
    "width": "Width",
    "batchSize": "Batch Size",
}


class _Wire(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="ignore")


class Envelope(_Wire):
    payload: Any = None
    metadata: dict[str, Any] | None = None
    has_error: bool = Field(default=False, alias="hasError")
    error_message: str | None = Field(default=None, alias="errorMessage")
    error_code: int | str | None = Field(default=None, alias="errorCode")


class AimgParams(_Wire):
    """The body of ``POST /generateImage``. ``None`` leaves a field to the server's default."""

    prompt: str
    negprompt: str | None = None
    model_name: str | None = Field(default=None, alias="modelName")
    steps: int | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    width: int | None = None
    height: int | None = None
    sampler: str | None = None
    cfgscale: float | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgVideoParams(_Wire):
    """The body of ``POST /generateVideo``. The seed leaves ``input`` and ``controlNetPreset`` unexplained."""

    prompt: str
    model_name: str | None = Field(default=None, alias="modelName")
    steps: int | None = None
    seed: int | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    input: str | None = None
    control_net_preset: str | None = Field(default=None, alias="controlNetPreset")
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgThumbnail(_Wire):
    image_id: str = Field(alias="imageID")
    url: str


class AimgModel(_Wire):
    """A Model object. Fields AIMG's API marks mandatory are required, except the cosmetic lists."""

    model_id: str = Field(alias="modelID")
    name: str
    description: str = ""
    #: StaticImage, AnimatedImage, Video, Text, Music, Other or Unknown.
    media_type: str = Field(alias="mediaType")
    min_tier: int = Field(alias="minTier")
    tier0_concurrent: int = Field(alias="tier0Concurrent")
    tier1_concurrent: int = Field(alias="tier1Concurrent")
    tier2_concurrent: int = Field(alias="tier2Concurrent")
    positive_tokens: list[str] = Field(default_factory=list, alias="positiveTokens")
    negative_tokens: list[str] = Field(default_factory=list, alias="negativeTokens")
    sample_images: list[AimgThumbnail] = Field(default_factory=list, alias="sampleImages")
    min_steps: int = Field(alias="minSteps")
    max_steps: int = Field(alias="maxSteps")
    allowed_widths: list[int] = Field(alias="allowedWidths")
    allowed_heights: list[int] = Field(alias="allowedHeights")
    #: Most pixels (width * height) an item may have.
    max_resolution: int = Field(alias="maxResolution")
    #: ``[width, height]``.
    default_resolution: list[int] = Field(alias="defaultResolution")
    allowed_samplers: list[str] = Field(alias="allowedSamplers")
    default_sampler: str = Field(alias="defaultSampler")
    min_cfg_scale: float = Field(alias="minCfgScale")
    max_cfg_scale: float = Field(alias="maxCfgScale")
    supports_variations: bool = Field(alias="supportsVariations")
    registration_wall: bool = Field(alias="registrationWall")
    default_face_fix: bool = Field(alias="defaultFaceFix")
    wiki_url: str | None = Field(default=None, alias="wikiURL")

    @property
    def is_video(self) -> bool:
        return self.media_type == "Video"


class AimgFrame(_Wire):
    frame_count: int = Field(alias="frameCount")
    frame_number: int = Field(alias="frameNumber")
    frame_url: str = Field(alias="frameUrl")


class AimgStatus(_Wire):
    """A GenerationStatus object (what generateImage, generateVideo and getItemStatus answer)."""

    image_id: str = Field(alias="imageID")
    folder_id: str | None = Field(default=None, alias="folderID")
    status: str = ""
    ignored_words: list[str] = Field(default_factory=list, alias="ignoredWords")
    mtype: str = "image"
    url: str | None = None
    queue_position: int | None = Field(default=None, alias="queuePosition")
    frames: list[AimgFrame] = Field(default_factory=list)
    #: Undocumented (docs/backends/aimg.md): used when a server sends it, as 0-100 or a 0-1 fraction.
    progress: float | None = None

    @field_validator("ignored_words", mode="before")
    @classmethod
    def _split_words(cls, value: Any) -> Any:
        # The seed types it as a string holding "the list of words"; accept a real list too.
        if value is None:
            return []
        if isinstance(value, str):
            return [word for word in re.split(r"[,\s]+", value) if word]
        return value


class AimgItem(_Wire):
    """An Image object (getItem, getMyCreations)."""

    id: str
    url: str = ""
    mtype: str = "image"
    media_type: str | None = Field(default=None, alias="mediaType")
    user_id: str | None = Field(default=None, alias="userID")
    batch_id: str | None = Field(default=None, alias="batchID")
    completed_date: int | None = Field(default=None, alias="completedDate")
    like_count: int = Field(default=0, alias="likeCount")
    dislike_count: int = Field(default=0, alias="dislikeCount")
    is_liked: bool = Field(default=False, alias="isLiked")
    is_disliked: bool = Field(default=False, alias="isDisliked")
    is_public: bool = Field(default=False, alias="isPublic")
    folder_id: str | None = Field(default=None, alias="folderID")
    tags: list[str] = Field(default_factory=list)


class AimgItemDetails(AimgItem):
    """An ImageInfo object (getItemDetails): the item plus the parameters that made it."""

    prompt: str = ""
    negprompt: str | None = None
    model_id: str = Field(alias="modelID")
    model_name: str = Field(default="", alias="modelName")
    steps: int | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    sampler: str | None = None
    cfgscale: float | None = None
    restore_faces: bool | None = Field(default=None, alias="restoreFaces")
    width: int | None = None
    height: int | None = None
    generator_version: str | None = Field(default=None, alias="generatorVersion")
    workflow_template_name: str | None = Field(default=None, alias="workflowTemplateName")
    workflow_run_parameters: list[AimgWorkflowParameter] = Field(
        default_factory=list, alias="workflowRunParameters"
    )

    @field_validator("generator_version", mode="before")
    @classmethod
    def _version_as_str(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    def image_params(self) -> AimgParams:
        """The generateImage request that made this item."""
        return AimgParams(
            prompt=self.prompt,
            negprompt=self.negprompt or None,
            model_name=self.model_id,
            steps=self.steps,
            seed=self.seed,
            subseed=self.subseed,
            subseed_strength=self.subseed_strength,
            width=self.width,
            height=self.height,
            sampler=self.sampler,
            cfgscale=self.cfgscale,
            restore_faces=self.restore_faces,
        )

    def video_params(self) -> AimgVideoParams:
        """The generateVideo request that made this item."""
        return AimgVideoParams(
            prompt=self.prompt,
            model_name=self.model_id,
            steps=self.steps,
            seed=self.seed,
            restore_faces=self.restore_faces,
        )

    def workflow_request(self, seed: int) -> AimgWorkflowRequest:
        """The enqueueWorkflow request that made this (workflow) item again, with ``seed``.

        The run's own parameters when AIMG returns them (they are the whole run, template
        defaults included), else the prompts the item records."""
        name = self.workflow_template_name or ""
        kept = [p for p in self.workflow_run_parameters if p.name != WORKFLOW_FIELDS["seed"]]
        if kept:
            return AimgWorkflowRequest(workflow_template_name=name, parameters=kept, seed=seed)
        return AimgWorkflowRequest(
            workflow_template_name=name, prompt=self.prompt, negprompt=self.negprompt or None, seed=seed
        )


class AimgPage(BaseModel):
    """One page of getMyCreations. ``next_pagination_index`` is None on the last page."""

    items: list[AimgItem]
    next_pagination_index: str | None = None
    total_count: int | None = None


class AimgSelfUser(_Wire):
    """A SelfUser object."""

    session_id: str = Field(alias="sessionID", repr=False)
    user_id: str = Field(alias="userID")
    email: str | None = None
    username: str | None = None
    is_authenticated: bool = Field(default=False, alias="isAuthenticated")
    tier: int = 0
    tier_expiration: str | None = Field(default=None, alias="tierExpiration")
    item_count: int = Field(default=0, alias="itemCount")


class AimgOutcome(_Wire):
    """One item's result in likeItems, dislikeItems, deleteItems, reportItems… answers."""

    id: str
    success: bool
    message: str | None = None
    #: reportItems only.
    report_id: str | None = Field(default=None, alias="reportId")


class AimgMessage(_Wire):
    """``{success, message}`` answers (requestOTP, signOutUser)."""

    success: bool
    message: str | None = None


class AimgQueueLength(_Wire):
    model_id: str = Field(alias="modelID")
    #: Queues with ``-p1-`` in their id are the PRO priority queues.
    queue_id: str = Field(alias="queueID")
    queue_length: int = Field(alias="queueLength")


class AimgPrompt(_Wire):
    positive_prompt: str = Field(alias="positivePrompt")
    negative_prompt: str | None = Field(default=None, alias="negativePrompt")


class AimgWorkflowParameter(_Wire):
    name: str
    #: Always a string on the wire, whatever the parameter's type.
    value: str


class AimgWorkflowRequest(_Wire):
    """The body of ``POST /2/enqueueWorkflow``."""

    workflow_template_name: str = Field(alias="workflowTemplateName")
    prompt: str | None = None
    negprompt: str | None = None
    seed: int | None = None
    subseed: int | None = None
    subseed_strength: float | None = None
    steps: int | None = None
    cfgscale: float | None = None
    model_name: str | None = Field(default=None, alias="modelName")
    lora: list[str] | None = None
    lora_strength: list[float] | None = None
    height: int | None = None
    width: int | None = None
    batch_size: int | None = Field(default=None, alias="batchSize")
    parameters: list[AimgWorkflowParameter] | None = None
    folder_id: str | None = Field(default=None, alias="folderID")


class AimgWorkflowHandle(_Wire):
    item_ids: list[str] = Field(alias="itemIds")
    workflow_id: str = Field(alias="workflowId")


class AimgWorkflowFile(_Wire):
    note: str | None = None
    file_name: str | None = Field(default=None, alias="fileName")
    download_url: str | None = Field(default=None, alias="downloadURL")
    is_main_output: bool = Field(default=False, alias="isMainOutput")
    height: int | None = None
    width: int | None = None
    type: str | None = None


class AimgWorkflowState(_Wire):
    """A WorkflowStateObject."""

    internal_id: str = Field(alias="_id")
    public_id: str | None = Field(default=None, alias="publicId")
    is_started: bool = Field(default=False, alias="isStarted")
    is_complete: bool = Field(default=False, alias="isComplete")
    is_error: bool = Field(default=False, alias="isError")
    error_message: str | None = Field(default=None, alias="errorMessage")
    output_files: list[AimgWorkflowFile] = Field(default_factory=list, alias="outputFiles")
    #: running, completed or error.
    state: str | None = None
    start_time: str | None = Field(default=None, alias="startTime")
    end_time: str | None = Field(default=None, alias="endTime")
    item_ids: list[str] = Field(default_factory=list, alias="itemIds")


class AimgWorkflowTemplateParameter(_Wire):
    """A WorkflowTemplateParameter: what the template takes, with its limits (as strings)."""

    name: str
    #: string, number, boolean, array, object, file, files, filesGroup or dropdown.
    data_type: str = Field(alias="dataType")
    description: str = ""
    default_value: str | None = Field(default=None, alias="defaultValue")
    is_optional: bool = Field(default=True, alias="isOptional")
    min: str | None = None
    max: str | None = None
    increment: str | None = None
    dropdown_items: list[str] = Field(default_factory=list, alias="dropdownItems")

    @field_validator("default_value", "min", "max", "increment", mode="before")
    @classmethod
    def _as_text(cls, value: Any) -> Any:
        # The seed types these as strings; a server may well send the number itself.
        return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


class AimgWorkflowTemplate(_Wire):
    """A WorkflowTemplate (files left out: the bot sends none)."""

    name: str
    deployments: list[str] = Field(default_factory=list)
    parameters: list[AimgWorkflowTemplateParameter] = Field(default_factory=list)

    def parameter(self, name: str) -> AimgWorkflowTemplateParameter | None:
        return next((p for p in self.parameters if p.name == name), None)


class AimgSnapshot(TaskSnapshot):
    """A TaskSnapshot plus what only AIMG reports. The engine may treat it as a plain TaskSnapshot."""

    queue_position: int | None = None
    ignored_words: list[str] = Field(default_factory=list)
    media_type: MediaType = "image"
    frame_urls: list[str] = Field(default_factory=list)
