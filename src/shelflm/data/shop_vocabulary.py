"""The synthetic shop's vocabulary: its category tree, brands and description phrases.

Kept apart from the generator (shelflm.data.synthetic) because it is data, not logic.
"""

from __future__ import annotations

from dataclasses import dataclass

from shelflm.data.schema import CATEGORY_SEPARATOR

# One leaf category per line: path | nouns | adjectives | sizes | price range | repeat days
# (0 = durable; otherwise a consumable that shoppers re-buy about every that many days).
LEAVES = """
Outdoor > Hiking > Backpacks | Hiking Backpack, Daypack, Trekking Pack | Trail, Ultralight, Waterproof, Alpine, Hydration | 20L, 30L, 45L, 60L | 35-240 | 0
Outdoor > Hiking > Boots | Hiking Boots, Trail Shoes, Trekking Boots | Waterproof, Leather, Lightweight, Mid-Cut, Gore-Tex | Size 8, Size 9, Size 10, Size 11 | 60-260 | 0
Outdoor > Camping > Tents | Camping Tent, Backpacking Tent, Dome Tent | 2-Person, 4-Person, Ultralight, Weatherproof, Pop-Up | 3-Season, 4-Season | 70-600 | 0
Outdoor > Camping > Stove Fuel | Camp Stove Fuel Canister, Isobutane Fuel | Butane, Propane Blend, Cold-Weather | 100g, 230g, 450g | 5-15 | 30
Kitchen > Coffee > Grinders | Coffee Grinder, Burr Grinder, Espresso Grinder | Conical Burr, Manual, Electric, Stainless, Precision | 40mm, 64mm | 25-450 | 0
Kitchen > Coffee > Beans | Whole Bean Coffee, Espresso Roast, Coffee Beans | Dark Roast, Medium Roast, Single-Origin, Organic, Decaf | 250g, 500g, 1kg | 8-40 | 21
Kitchen > Cookware > Pans | Frying Pan, Skillet, Saute Pan | Cast Iron, Nonstick, Stainless Steel, Carbon Steel, Ceramic | 8 inch, 10 inch, 12 inch | 15-180 | 0
Kitchen > Cookware > Knives | Chef Knife, Santoku Knife, Knife Set | Japanese Steel, Forged, Damascus, Ergonomic, Stainless | 6 inch, 8 inch, 5-Piece | 15-300 | 0
Beauty > Skincare > Serums | Face Serum, Vitamin C Serum, Hyaluronic Serum | Brightening, Hydrating, Anti-Aging, Retinol, Niacinamide | 15ml, 30ml, 50ml | 9-95 | 45
Beauty > Skincare > Moisturizers | Face Moisturizer, Night Cream, Day Cream | Hydrating, Oil-Free, SPF 30, Ceramide, Fragrance-Free | 50ml, 75ml | 8-80 | 40
Beauty > Makeup > Lipstick | Lipstick, Liquid Lipstick, Lip Tint | Matte, Satin, Long-Wear, Nude, Ruby Red | 3.5g, 5ml | 6-45 | 60
Beauty > Hair Care > Shampoo | Shampoo, Conditioner, Hair Mask | Sulfate-Free, Volumizing, Repairing, Argan Oil, Curl | 250ml, 500ml | 5-40 | 30
Electronics > Audio > Headphones | Headphones, Earbuds, Headset | Wireless, Noise-Cancelling, Bluetooth, Over-Ear, Sport | 20h Battery, 40h Battery | 20-400 | 0
Electronics > Audio > Speakers | Bluetooth Speaker, Smart Speaker, Soundbar | Portable, Waterproof, Stereo, Bass Boost, Wi-Fi | 10W, 30W, 60W | 25-350 | 0
Electronics > Computer Accessories > Keyboards | Mechanical Keyboard, Wireless Keyboard, Gaming Keyboard | RGB, Low-Profile, Tenkeyless, Ergonomic, Silent | Full-Size, 75% | 25-220 | 0
Electronics > Computer Accessories > Mice | Wireless Mouse, Gaming Mouse, Ergonomic Mouse | Rechargeable, Silent, High-DPI, Vertical, Bluetooth | 4000 DPI, 16000 DPI | 10-150 | 0
Home > Bedding > Sheets | Sheet Set, Duvet Cover, Fitted Sheet | Cotton, Linen, Bamboo, Percale, Sateen | Twin, Queen, King | 25-250 | 0
Home > Bedding > Pillows | Pillow, Memory Foam Pillow, Body Pillow | Cooling, Down Alternative, Hypoallergenic, Firm, Soft | Standard, King | 15-120 | 0
Home > Cleaning > Detergent | Laundry Detergent, Dish Soap, All-Purpose Cleaner | Eco, Fragrance-Free, Concentrated, Lavender, Citrus | 1L, 2L, 64 Loads | 4-30 | 28
Home > Lighting > Lamps | Desk Lamp, Floor Lamp, Table Lamp | LED, Dimmable, Modern, Vintage, Smart | 8W, 12W | 20-220 | 0
Sports > Running > Running Shoes | Running Shoes, Trail Running Shoes, Racing Flats | Cushioned, Lightweight, Stability, Carbon Plate, Breathable | Size 8, Size 9, Size 10, Size 11 | 50-250 | 0
Sports > Running > Apparel | Running Shorts, Running Tee, Running Jacket | Moisture-Wicking, Reflective, Lightweight, Seamless, Windproof | S, M, L, XL | 15-120 | 0
Sports > Yoga > Mats | Yoga Mat, Exercise Mat, Travel Yoga Mat | Non-Slip, Extra Thick, Cork, Eco, Foldable | 4mm, 6mm | 15-130 | 0
Sports > Nutrition > Protein | Whey Protein, Plant Protein, Protein Bars | Chocolate, Vanilla, Unflavored, Low-Sugar, Grass-Fed | 1kg, 2kg, 12-Pack | 15-70 | 30
Pets > Dogs > Dog Food | Dry Dog Food, Wet Dog Food, Puppy Food | Grain-Free, Salmon, Chicken, Senior, High-Protein | 2kg, 6kg, 12kg | 12-90 | 30
Pets > Dogs > Dog Toys | Chew Toy, Rope Toy, Fetch Ball | Durable, Squeaky, Interactive, Rubber, Plush | Small, Large | 5-35 | 0
Pets > Cats > Cat Litter | Cat Litter, Clumping Litter, Litter Pellets | Unscented, Odor Control, Clumping, Pine, Low-Dust | 5kg, 10kg | 8-35 | 21
Pets > Cats > Scratchers | Cat Scratcher, Cat Tree, Scratching Post | Sisal, Cardboard, Multi-Level, Compact, Wall-Mounted | Small, Large | 12-160 | 0
Baby > Diapering > Diapers | Diapers, Diaper Pants, Swim Diapers | Ultra-Soft, Overnight, Eco, Hypoallergenic, Leak-Proof | Size 1, Size 3, Size 5 | 10-50 | 14
Baby > Diapering > Wipes | Baby Wipes, Sensitive Wipes, Water Wipes | Unscented, Aloe, Plant-Based, Thick, Travel | 72-Count, 12-Pack | 3-25 | 14
Baby > Nursery > Strollers | Stroller, Jogging Stroller, Travel System | Lightweight, Foldable, All-Terrain, Compact, Reversible | Single, Double | 90-700 | 0
Baby > Nursery > Baby Monitors | Baby Monitor, Video Monitor, Audio Monitor | Wi-Fi, Night Vision, Two-Way Audio, Smart, Long-Range | 720p, 1080p | 25-250 | 0
"""  # noqa: E501 (a table reads better one leaf per line)
BRANDS = {
    "Outdoor": "Trailpeak, Northridge, Summitco, Pinecrest, Ridgeline, Cascade Gear",
    "Kitchen": "Brewmaster, Casa Cucina, Ironleaf, Kettle & Co, Roastwell, Chefline",
    "Beauty": "Lumiere, Glowlab, Petal & Pine, Dermaclear, Velvetine, Aurora Skin",
    "Electronics": "Voltix, Sonara, Keystone Labs, Pixelon, Amperio, Nordwave",
    "Home": "Hearth & Home, Linenly, Brightnest, Cozyway, Puraclean, Oakhaven",
    "Sports": "Stridex, Peakform, Zenflow, Ironpulse, Sprintline, Corevia",
    "Pets": "Pawsome, Whiskerwell, Barkley, Furbest, Happy Tails, Purrfect",
    "Baby": "Little Sprout, Cuddlebug, Tinytoes, Nestling, Babybloom, Snugglepod",
}
MID_PHRASES = {
    "Hiking": "Built for long days on the trail.",
    "Camping": "Made for nights under the stars.",
    "Coffee": "Brews a rich, aromatic cup every morning.",
    "Cookware": "A kitchen essential for everyday cooking.",
    "Skincare": "Gentle on skin and dermatologist tested.",
    "Makeup": "Rich color that lasts all day.",
    "Hair Care": "Leaves hair soft, shiny and healthy.",
    "Audio": "Crisp, immersive sound wherever you go.",
    "Computer Accessories": "Boosts comfort and productivity at your desk.",
    "Bedding": "Sleep better in soft, breathable comfort.",
    "Cleaning": "Cuts through grease and grime with ease.",
    "Lighting": "Warm, even light for any room.",
    "Running": "Engineered for every mile you run.",
    "Yoga": "Supports a calm, steady practice.",
    "Nutrition": "Fuels recovery after hard workouts.",
    "Dogs": "Keeps your dog happy and healthy.",
    "Cats": "Loved by curious cats everywhere.",
    "Diapering": "Gentle protection for sensitive skin.",
    "Nursery": "Designed with safety and comfort in mind.",
}
TIERS = ("budget", "standard", "premium")
TIER_PHRASES = (
    "Great value for everyday use.", "Reliable quality at a fair price.",
    "Premium materials with a lifetime warranty.",
)


@dataclass(frozen=True)
class Leaf:
    """One leaf category of the tree and the words its product titles are made of."""

    path: tuple[str, str, str]
    nouns: list[str]
    adjectives: list[str]
    sizes: list[str]
    price: tuple[float, float]
    repeat_days: int


def parse_leaves() -> list[Leaf]:
    """The LEAVES table as Leaf records, in table order."""
    leaves = []
    for line in LEAVES.strip().splitlines():
        path, nouns, adjs, sizes, price, repeat = (p.strip() for p in line.split("|"))
        lo, hi = price.split("-")
        split = lambda s: [w.strip() for w in s.split(",")]  # noqa: E731
        leaves.append(Leaf(tuple(path.split(CATEGORY_SEPARATOR)), split(nouns), split(adjs),
                           split(sizes), (float(lo), float(hi)), int(repeat)))
    return leaves
