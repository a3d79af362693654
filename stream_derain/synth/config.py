"""What the renderer may draw: ranges that each rendered image samples its drops and look from."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import DerainError

Range = tuple[float, float]


@dataclass(frozen=True)
class RainConfig:
    """Ranges for the drops of one image; each image draws its own values from them.

    Sizes are drop radii in pixels of the image they are drawn on (real photos at 720x480
    show radii of about 3 to 40 px). `density` is the fraction of the image covered by drops
    before overlaps. `focus_mix` is the share of out-of-focus drops, 0 (all sharp little
    lenses) to 1 (all soft blurry discs).
    """

    density: Range = (0.1, 0.45)
    radius: Range = (2.0, 40.0)
    size_tail: float = 1.8  # power-law exponent of radii: many small drops, few big ones
    focus_mix: float = 0.7
    blur_sigma: Range = (1.5, 6.0)  # defocus blur of out-of-focus drops, in pixels
    lens_blur: Range = (1.5, 4.0)  # a water lens is a poor optic: its refracted view is soft
    magnification: Range = (1.0, 3.5)  # how much wider than the drop its inverted view is
    merged_fraction: float = 0.15
    trail_fraction: float = 0.08
    haze: Range = (0.25, 0.6)  # drops scatter light: their view is brighter and flatter
    rim: Range = (0.1, 0.4)  # darkening at a drop's rim, where light is bent out of the camera's view
    highlight: Range = (0.05, 0.35)  # a drop's specular highlight, per drop
    veil: Range = (0.03, 0.22)  # whole-frame contrast loss from the wet glass, at full coverage
    # 0: the veil has one strength over the frame, set by the drops' overall coverage; > 0: it
    # follows their local coverage, blurred with a Gaussian of this sigma in px (a film of water
    # is thickest where the drops are)
    veil_spread: float = 0.0
    # the share of frames that get a veil at all: lenses and panes are not always wet enough
    veil_chance: float = 1.0
    # the grey (0..1) the veil fades toward; None: the drops' own airlight, a bright grey, which
    # lifts nearly every pixel. Real panes lower the pixels away from their drops (docs/SYNTH.md,
    # "The pane away from drops"): their veil fades toward a darker grey.
    veil_level: Range | None = None
    # the camera's grain (Gaussian sigma, grey levels of 255), added after the glass to rain and
    # clean alike; None: none. Real drops' flat middles carry grain that rendered ones lack
    # (docs/SYNTH.md, "The camera's grain").
    sensor_noise: Range | None = None
    # None: a drop's haze fades toward a bright grey (the airlight, 0.7..0.97). LOW, HIGH: toward
    # the clean frame's mean colour times a factor drawn from this range, in the share
    # `scene_light_chance` of frames: a drop is a wide-angle lens, and the light it scatters is the
    # scene's, so over a dark scene it is dim (docs/SYNTH.md, "The light inside a drop").
    scene_light: Range | None = None
    scene_light_chance: float = 1.0
    # None: the scene as it is. LOW, HIGH: out-of-focus lights (bright soft discs) drawn into the
    # clean frame, this many per 128 x 128 px, in the share `scene_bokeh_chance` of frames: they
    # are not drops, and a model must learn to keep them (stream_derain/synth/bokeh.py).
    scene_bokeh: Range | None = None
    scene_bokeh_chance: float = 1.0
    # None: the scene as it is. LOW, HIGH: in the share `scene_defocus_chance` of frames, the clean
    # frame out of focus, a lens's disc of this radius in px, before any lights and drops: a soft
    # scene is not a drop either (stream_derain/synth/bokeh.py).
    scene_defocus: Range | None = None
    scene_defocus_chance: float = 1.0
    # None: a drop shows only its refracted view. LOW, HIGH (0..1): in the share
    # `see_through_chance` of frames, this share of each drop's light is the scene straight behind
    # it, in focus and hazed like the view: large real drops are translucent and let the scene's
    # detail through (docs/SYNTH.md, "Translucent drops").
    see_through: Range | None = None
    see_through_chance: float = 1.0
    # None: every drop as translucent as the frame's share says. LOW, HIGH (px): the share grows
    # from nothing for drops of radius LOW to all of it from radius HIGH: in the real photos the
    # large drops let the scene through and the small ones do not (docs/SYNTH.md).
    see_through_radius: Range | None = None
    mask_threshold: int = 30  # the paper's threshold (of 255), on |rain - clean|'s 5x5 local mean

    def __post_init__(self) -> None:
        for name in ("density", "radius", "blur_sigma", "lens_blur", "magnification", "haze", "rim", "highlight", "veil"):
            low, high = getattr(self, name)
            if not 0 <= low <= high:
                raise DerainError(f"{name} range must be 0 <= low <= high, got {low}, {high}")
        if not 0 < self.density[1] <= 2:
            raise DerainError(f"density must be in (0, 2], got {self.density[1]}")
        if self.radius[0] < 0.5:
            raise DerainError(f"smallest drop radius must be at least 0.5 px, got {self.radius[0]}")
        if not 0 <= self.focus_mix <= 1:
            raise DerainError(f"focus mix must be in [0, 1], got {self.focus_mix}")
        if self.veil[1] >= 1 or self.haze[1] >= 1 or self.rim[1] >= 1:
            raise DerainError("veil, haze and rim must stay below 1")
        if self.veil_spread < 0:
            raise DerainError(f"veil spread must be 0 or more pixels, got {self.veil_spread}")
        if not 0 <= self.veil_chance <= 1:
            raise DerainError(f"veil chance must be in [0, 1], got {self.veil_chance}")
        if self.veil_level is not None and not 0 <= self.veil_level[0] <= self.veil_level[1] <= 1:
            raise DerainError(f"veil level must be 0 <= low <= high <= 1, got {self.veil_level}")
        for name, above_zero in (("scene_light", True), ("scene_bokeh", False), ("scene_defocus", True), ("see_through", False)):
            self._check_chanced_range(name, above_zero)
        if self.see_through is not None and self.see_through[1] > 1:
            raise DerainError(f"see through must be at most 1, got {self.see_through}")
        if self.see_through_radius is not None:
            if not 0 <= self.see_through_radius[0] < self.see_through_radius[1]:
                raise DerainError(f"see through radius must be 0 <= low < high, got {self.see_through_radius}")
            if self.see_through is None:
                raise DerainError("a see through radius needs a see through range (--see-through LOW,HIGH or data.see_through)")
        if self.sensor_noise is not None and not 0 <= self.sensor_noise[0] <= self.sensor_noise[1]:
            raise DerainError(f"sensor noise must be 0 <= low <= high, got {self.sensor_noise}")

    @property
    def changes_scene(self) -> bool:
        """Whether the clean frame itself is changed (defocus, lights): still images only."""
        return self.scene_bokeh is not None or self.scene_defocus is not None

    def _check_chanced_range(self, name: str, above_zero: bool) -> None:
        """An optional LOW, HIGH range (None: off) and the share of frames it touches."""
        values, chance, words = getattr(self, name), getattr(self, f"{name}_chance"), name.replace("_", " ")
        if values is not None and (values[0] < 0 or values[0] == 0 and above_zero or values[0] > values[1]):
            raise DerainError(f"{words} must be {'0 <' if above_zero else '0 <='} low <= high, got {values}")
        if not 0 <= chance <= 1:
            raise DerainError(f"{words} chance must be in [0, 1], got {chance}")
        if values is None and chance != 1:
            raise DerainError(f"a {words} chance needs a {words} range (--{name.replace('_', '-')} LOW,HIGH or data.{name})")
